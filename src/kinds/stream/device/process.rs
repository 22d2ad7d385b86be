//! `process.*`, `process.parent.*`, `Target.process.*` and `process.Ext.api.*` from the
//! `InitiatingProcess*` and `Process*` columns, and `process.args` split the Windows way.
//!
//! Which process the `InitiatingProcess*` columns describe depends on the table: for
//! DeviceProcessEvents (and most DeviceEvents) they are the parent of the event's process, for
//! the other tables, the API and driver events and the DeviceEvents listed in
//! [`EVENTS_MAPPING_PROCESS`] they are the process itself (elastic/integrations#9993).

use serde_json::Value;

use super::Ctx;
use crate::doc::{join, Doc};
use crate::kinds::stream::common::copy;

const EV: &str = "m365_defender.event";

/// DeviceEvents action types whose `InitiatingProcess*` columns are the acting process.
const EVENTS_MAPPING_PROCESS: &[&str] = &[
    "namedpipeevent",
    "dpapiaccessed",
    "ntallocatevirtualmemoryapicall",
    "getclipboarddata",
    "ntprotectvirtualmemoryapicall",
    "browserlaunchedtoopenurl",
    "processprimarytokenmodified",
    "powershellcommand",
    "clrunbackedmoduleloaded",
    "ldapsearch",
    "dnsqueryresponse",
    "ntallocatevirtualmemoryremoteapicall",
    "memoryremoteprotect",
    "screenshottaken",
    "antivirusscancompleted",
    "exploitguardwin32systemcallblocked",
    "getasynckeystateapicall",
    "appguardcreatecontainer",
    "exploitguardacgenforced",
    "writetolsassprocessmemory",
    "antivirusscancancelled",
    "controlflowguardviolation",
    "appcontrolpolicyapplied",
    "createremotethreadapicall",
    "auditpolicymodification",
    "ntmapviewofsectionremoteapicall",
    "appguardlaunchedwithurl",
    "appguardresumecontainer",
    "smartscreenurlwarning",
    "appguardbrowsetourl",
    "otheralertrelatedactivity",
    "antivirusscanfailed",
];

/// API calls that act on another process, which becomes `Target.process`.
const REMOTE_API_CALLS: &[&str] = &[
    "createremotethreadapicall",
    "readprocessmemoryapicall",
    "ntallocatevirtualmemoryremoteapicall",
    "openprocessapicall",
];

/// The file columns describe the event's process (parent mapping).
const PROCESS_FROM_FILE: &[(&str, &str)] = &[
    ("folder_path", "process.executable"),
    ("md5", "process.hash.md5"),
    ("sha1", "process.hash.sha1"),
    ("sha256", "process.hash.sha256"),
    ("file.name", "process.name"),
];

/// `InitiatingProcess*` as the parent (parent mapping).
const AS_PARENT: &[(&str, &str)] = &[
    ("command_line", "process.parent.command_line"),
    ("md5", "process.parent.hash.md5"),
    ("sha1", "process.parent.hash.sha1"),
    ("sha256", "process.parent.hash.sha256"),
    ("parent_id", "process.parent.group_leader.pid"),
    ("id", "process.parent.pid"),
    ("creation_time", "process.parent.start"),
    ("file_name", "process.parent.name"),
    ("folder_path", "process.parent.executable"),
    ("parent_creation_time", "process.parent.group_leader.start"),
    ("parent_file_name", "process.parent.group_leader.name"),
    ("version_info_company_name", "process.parent.pe.company"),
    (
        "version_info_file_description",
        "process.parent.pe.description",
    ),
    (
        "version_info_original_file_name",
        "process.parent.pe.original_file_name",
    ),
    ("version_info_product_name", "process.parent.pe.product"),
    (
        "version_info_product_version",
        "process.parent.pe.file_version",
    ),
    ("signature_status", "process.parent.code_signature.status"),
];

/// `InitiatingProcess*` hashes and PE info as the process itself (not for image loads).
const AS_PROCESS_HASH_PE: &[(&str, &str)] = &[
    ("md5", "process.hash.md5"),
    ("sha1", "process.hash.sha1"),
    ("sha256", "process.hash.sha256"),
];
const AS_PROCESS_PE: &[(&str, &str)] = &[
    ("version_info_company_name", "process.pe.company"),
    ("version_info_file_description", "process.pe.description"),
    (
        "version_info_original_file_name",
        "process.pe.original_file_name",
    ),
    ("version_info_product_name", "process.pe.product"),
    ("version_info_product_version", "process.pe.file_version"),
];

/// `Process*` columns always describe the event's process.
const PROCESS_COLUMNS: &[(&str, &str)] = &[
    ("process.command_line", "process.command_line"),
    ("process.creation_time", "process.start"),
    ("process.id", "process.pid"),
    ("process.version_info_company_name", "process.pe.company"),
    (
        "process.version_info_file_description",
        "process.pe.description",
    ),
    (
        "process.version_info_original_file_name",
        "process.pe.original_file_name",
    ),
    ("process.version_info_product_name", "process.pe.product"),
    (
        "process.version_info_product_version",
        "process.pe.file_version",
    ),
];

fn ip(field: &str) -> String {
    format!("{EV}.initiating_process.{field}")
}

pub(super) fn map(ctx: &Ctx<'_>, doc: &mut Doc) {
    let events = ctx.is("DeviceEvents");
    let maps_process = if events {
        Some(
            ctx.action
                .as_deref()
                .is_some_and(|a| EVENTS_MAPPING_PROCESS.contains(&a)),
        )
    } else {
        None
    };
    let (api, driver) = (ctx.has("api"), ctx.has("driver"));
    let process = ctx.has("process");
    let any = ctx.any_cat();
    // InitiatingProcess* is the parent of the event's process.
    let as_parent = any && !api && !driver && (process || maps_process == Some(false));
    // InitiatingProcess* is the event's process.
    let other_table = !process && !events;
    let as_process = any && (api || driver || other_table || maps_process == Some(true));
    let as_process_hash = any
        && (api || driver || (other_table && !ctx.has("library")) || maps_process == Some(true));

    if as_parent {
        if !ctx.is("DeviceImageLoadEvents") {
            for (from, to) in PROCESS_FROM_FILE {
                copy(doc, &join(EV, from), to);
            }
        }
        for (from, to) in AS_PARENT {
            copy(doc, &ip(from), to);
        }
        match doc.get_str(&ip("signature_status")) {
            Some("Valid") => {
                doc.set("process.parent.code_signature.exists", true);
                doc.set("process.parent.code_signature.status", "trusted");
                doc.set("process.parent.code_signature.trusted", true);
            }
            Some("Unsigned") => {
                doc.set("process.parent.code_signature.exists", false);
                doc.set("process.parent.code_signature.trusted", false);
            }
            _ => {}
        }
    }
    if any && !api && !driver && (process || events || ctx.has("library")) {
        copy(
            doc,
            &ip("integrity_level"),
            "process.Ext.token.integrity_level_name",
        );
    }
    if api {
        api_call(ctx, doc);
    }

    if as_process {
        copy(doc, &ip("command_line"), "process.command_line");
    }
    if as_process_hash {
        for (from, to) in AS_PROCESS_HASH_PE {
            copy(doc, &ip(from), to);
        }
    }
    if as_process {
        copy(doc, &ip("parent_id"), "process.parent.pid");
        copy(doc, &ip("id"), "process.pid");
        copy(doc, &ip("creation_time"), "process.start");
        copy(doc, &ip("file_name"), "process.name");
    }
    if any && (other_table || maps_process == Some(true)) {
        copy(doc, &ip("folder_path"), "process.executable");
    }
    if api || driver {
        let exe = super::ecs::join_path(doc, &ip("folder_path"), &ip("file_name"));
        doc.set("process.executable", exe);
        copy(doc, &ip("parent_file_name"), "process.parent.name");
        copy(doc, &ip("parent_id"), "process.parent.pid");
    }
    if as_process {
        copy(doc, &ip("parent_creation_time"), "process.parent.start");
        copy(doc, &ip("parent_file_name"), "process.parent.name");
    }
    if api || driver {
        copy(doc, &ip("parent_id"), "process.group_leader.pid");
        copy(doc, &ip("parent_file_name"), "process.group_leader.name");
        copy(
            doc,
            &ip("parent_creation_time"),
            "process.group_leader.start",
        );
    }
    if as_process_hash {
        for (from, to) in AS_PROCESS_PE {
            copy(doc, &ip(from), to);
        }
    }
    if any && (api || other_table || maps_process == Some(true)) {
        copy(
            doc,
            &ip("signature_status"),
            "process.code_signature.status",
        );
    }
    for (from, to) in PROCESS_COLUMNS {
        copy(doc, &join(EV, from), to);
    }
    split_command_lines(doc);
}

/// API-call events: the API name, its parameters out of `AdditionalFields`, and the target
/// process of calls that act on another process.
fn api_call(ctx: &Ctx<'_>, doc: &mut Doc) {
    if let Some(action) = doc.get_str(&join(EV, "action.type")) {
        // "OpenProcessApiCall" -> "OpenProcess".
        let lower = action.to_lowercase();
        if let Some(idx) = lower.rfind("apicall") {
            if let Some(name) = action.get(..idx) {
                let name = name.to_string();
                doc.set("process.Ext.api.name", name);
            }
        }
    }
    let af = join(EV, "additional_fields");
    for (from, to) in [
        ("RegionSize", "process.Ext.api.parameters.size"),
        ("ProtectionMask", "process.Ext.api.parameters.protection"),
        ("BaseAddress", "process.Ext.api.parameters.address"),
        (
            "DesiredAccess",
            "process.Ext.api.parameters.desired_access_numeric",
        ),
    ] {
        if let Some(v) = doc.remove(&join(&af, from)) {
            let v = if from == "ProtectionMask" && !v.is_null() && v.as_str() != Some("") {
                Value::from(render_value(&v))
            } else {
                v
            };
            doc.set(to, v);
        }
    }
    if ctx
        .action
        .as_deref()
        .is_some_and(|a| REMOTE_API_CALLS.contains(&a))
    {
        copy(doc, &join(EV, "file.name"), "Target.process.name");
        copy(
            doc,
            &join(EV, "process.command_line"),
            "Target.process.command_line",
        );
        let exe = super::ecs::join_path(doc, &join(EV, "folder_path"), &join(EV, "file.name"));
        doc.set("Target.process.executable", exe);
    }
}

fn render_value(v: &Value) -> String {
    crate::kinds::stream::common::mustache(v).unwrap_or_default()
}

/// `process.args` / `process.parent.args` (and counts) from the command lines.
fn split_command_lines(doc: &mut Doc) {
    for prefix in ["process", "process.parent"] {
        let Some(cmd) = doc
            .get_str(&join(prefix, "command_line"))
            .filter(|c| !c.is_empty())
        else {
            continue;
        };
        let args = command_line_to_argv(cmd);
        let count = args.len();
        doc.set(&join(prefix, "args"), args);
        doc.set(&join(prefix, "args_count"), count);
    }
}

/// Windows `CommandLineToArgvW` rules as the pipeline implements them (after Go's
/// `syscall.CommandLineToArgv`): spaces and tabs separate, double quotes group, backslashes
/// escape quotes, `""` inside quotes is a literal quote.
pub(crate) fn command_line_to_argv(cmd: &str) -> Vec<String> {
    let chars: Vec<char> = cmd.chars().collect();
    let mut args = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == ' ' || chars[i] == '\t' {
            i += 1;
            continue;
        }
        let (arg, next) = read_next_arg(&chars, i);
        args.push(arg);
        i = next;
    }
    args
}

fn read_next_arg(chars: &[char], mut i: usize) -> (String, usize) {
    let mut b = String::new();
    let mut in_quote = false;
    let mut nslash = 0usize;
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' if !in_quote => {
                b.extend(std::iter::repeat('\\').take(nslash));
                return (b, i + 1);
            }
            '"' => {
                b.extend(std::iter::repeat('\\').take(nslash / 2));
                if nslash % 2 == 0 {
                    if in_quote && chars.get(i + 1) == Some(&'"') {
                        b.push('"');
                        i += 1;
                    }
                    in_quote = !in_quote;
                } else {
                    b.push('"');
                }
                nslash = 0;
                i += 1;
                continue;
            }
            '\\' => {
                nslash += 1;
                i += 1;
                continue;
            }
            _ => {}
        }
        b.extend(std::iter::repeat('\\').take(nslash));
        nslash = 0;
        b.push(c);
        i += 1;
    }
    b.extend(std::iter::repeat('\\').take(nslash));
    (b, i)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn argv_follows_windows_rules() {
        assert_eq!(
            command_line_to_argv(r#""C:\Program Files\x.exe" -a  "b c" d\"e"#),
            [r"C:\Program Files\x.exe", "-a", "b c", "d\"e"]
        );
        assert_eq!(command_line_to_argv(r#"a\\\\"b c" d"#), [r"a\\b c", "d"]);
        assert!(command_line_to_argv("   ").is_empty());
    }

    #[test]
    fn process_events_make_initiating_process_the_parent() {
        let mut d = Doc::new();
        d.set("m365_defender.event.initiating_process.id", 10);
        d.set(
            "m365_defender.event.initiating_process.file_name",
            "cmd.exe",
        );
        d.set("m365_defender.event.process.id", 20);
        d.set("m365_defender.event.file.name", "child.exe");
        let ctx = Ctx {
            table: "DeviceProcessEvents",
            cats: vec!["process"],
            action: None,
        };
        map(&ctx, &mut d);
        assert_eq!(d.get("process.pid"), Some(&json!(20)));
        assert_eq!(d.get("process.parent.pid"), Some(&json!(10)));
        assert_eq!(d.get_str("process.name"), Some("child.exe"));
        assert_eq!(d.get_str("process.parent.name"), Some("cmd.exe"));
    }

    #[test]
    fn api_call_names_api_and_target() {
        let mut d = Doc::new();
        d.set("m365_defender.event.action.type", "OpenProcessApiCall");
        d.set("m365_defender.event.file.name", "lsass.exe");
        d.set("m365_defender.event.folder_path", "c:\\windows\\system32");
        d.set("m365_defender.event.additional_fields.DesiredAccess", 4096);
        let ctx = Ctx {
            table: "DeviceEvents",
            cats: vec!["api"],
            action: Some("openprocessapicall".into()),
        };
        map(&ctx, &mut d);
        assert_eq!(d.get_str("process.Ext.api.name"), Some("OpenProcess"));
        assert_eq!(
            d.get("process.Ext.api.parameters.desired_access_numeric"),
            Some(&json!(4096))
        );
        assert_eq!(
            d.get_str("Target.process.executable"),
            Some("c:\\windows\\system32\\lsass.exe")
        );
    }
}
