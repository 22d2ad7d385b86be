//! `process.*`, `process.parent.*`, `Target.process.*` and `process.Ext.api.*` from the
//! `InitiatingProcess*` and `Process*` columns, and `process.args` split the Windows way.
//!
//! Which process the `InitiatingProcess*` columns describe depends on the table: for
//! DeviceProcessEvents (and most DeviceEvents) they are the parent of the event's process, for
//! the other tables, the API and driver events and the DeviceEvents listed in
//! [`EVENTS_MAPPING_PROCESS`] they are the process itself (elastic/integrations#9993).

use std::borrow::Cow;

use super::{Ctx, Ev};
use crate::kinds::stream::processors::command_line_to_argv;
use crate::tree::{Doc, Node};

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
    (ev!("folder_path"), "process.executable"),
    (ev!("md5"), "process.hash.md5"),
    (ev!("sha1"), "process.hash.sha1"),
    (ev!("sha256"), "process.hash.sha256"),
    (ev!("file.name"), "process.name"),
];

/// `InitiatingProcess*` as the parent (parent mapping).
const AS_PARENT: &[(&str, &str)] = &[
    (
        ev!("initiating_process.command_line"),
        "process.parent.command_line",
    ),
    (ev!("initiating_process.md5"), "process.parent.hash.md5"),
    (ev!("initiating_process.sha1"), "process.parent.hash.sha1"),
    (
        ev!("initiating_process.sha256"),
        "process.parent.hash.sha256",
    ),
    (
        ev!("initiating_process.parent_id"),
        "process.parent.group_leader.pid",
    ),
    (ev!("initiating_process.id"), "process.parent.pid"),
    (
        ev!("initiating_process.creation_time"),
        "process.parent.start",
    ),
    (ev!("initiating_process.file_name"), "process.parent.name"),
    (
        ev!("initiating_process.folder_path"),
        "process.parent.executable",
    ),
    (
        ev!("initiating_process.parent_creation_time"),
        "process.parent.group_leader.start",
    ),
    (
        ev!("initiating_process.parent_file_name"),
        "process.parent.group_leader.name",
    ),
    (
        ev!("initiating_process.version_info_company_name"),
        "process.parent.pe.company",
    ),
    (
        ev!("initiating_process.version_info_file_description"),
        "process.parent.pe.description",
    ),
    (
        ev!("initiating_process.version_info_original_file_name"),
        "process.parent.pe.original_file_name",
    ),
    (
        ev!("initiating_process.version_info_product_name"),
        "process.parent.pe.product",
    ),
    (
        ev!("initiating_process.version_info_product_version"),
        "process.parent.pe.file_version",
    ),
    (
        ev!("initiating_process.signature_status"),
        "process.parent.code_signature.status",
    ),
];

/// `InitiatingProcess*` hashes and PE info as the process itself (not for image loads).
const AS_PROCESS_HASH_PE: &[(&str, &str)] = &[
    (ev!("initiating_process.md5"), "process.hash.md5"),
    (ev!("initiating_process.sha1"), "process.hash.sha1"),
    (ev!("initiating_process.sha256"), "process.hash.sha256"),
];
const AS_PROCESS_PE: &[(&str, &str)] = &[
    (
        ev!("initiating_process.version_info_company_name"),
        "process.pe.company",
    ),
    (
        ev!("initiating_process.version_info_file_description"),
        "process.pe.description",
    ),
    (
        ev!("initiating_process.version_info_original_file_name"),
        "process.pe.original_file_name",
    ),
    (
        ev!("initiating_process.version_info_product_name"),
        "process.pe.product",
    ),
    (
        ev!("initiating_process.version_info_product_version"),
        "process.pe.file_version",
    ),
];

/// `Process*` columns always describe the event's process.
const PROCESS_COLUMNS: &[(&str, &str)] = &[
    (ev!("process.command_line"), "process.command_line"),
    (ev!("process.creation_time"), "process.start"),
    (ev!("process.id"), "process.pid"),
    (
        ev!("process.version_info_company_name"),
        "process.pe.company",
    ),
    (
        ev!("process.version_info_file_description"),
        "process.pe.description",
    ),
    (
        ev!("process.version_info_original_file_name"),
        "process.pe.original_file_name",
    ),
    (
        ev!("process.version_info_product_name"),
        "process.pe.product",
    ),
    (
        ev!("process.version_info_product_version"),
        "process.pe.file_version",
    ),
];

pub(super) fn map<'a>(ctx: &Ctx<'_>, ev: &mut Ev<'a>, doc: &mut Doc<'a>) {
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
                ev.copy(doc, from, to);
            }
        }
        for (from, to) in AS_PARENT {
            ev.copy(doc, from, to);
        }
        match ev.get_str(ev!("initiating_process.signature_status")) {
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
        ev.copy(
            doc,
            ev!("initiating_process.integrity_level"),
            "process.Ext.token.integrity_level_name",
        );
    }
    if api {
        api_call(ctx, ev, doc);
    }

    if as_process {
        ev.copy(
            doc,
            ev!("initiating_process.command_line"),
            "process.command_line",
        );
    }
    if as_process_hash {
        for (from, to) in AS_PROCESS_HASH_PE {
            ev.copy(doc, from, to);
        }
    }
    if as_process {
        ev.copy(
            doc,
            ev!("initiating_process.parent_id"),
            "process.parent.pid",
        );
        ev.copy(doc, ev!("initiating_process.id"), "process.pid");
        ev.copy(
            doc,
            ev!("initiating_process.creation_time"),
            "process.start",
        );
        ev.copy(doc, ev!("initiating_process.file_name"), "process.name");
    }
    if any && (other_table || maps_process == Some(true)) {
        ev.copy(
            doc,
            ev!("initiating_process.folder_path"),
            "process.executable",
        );
    }
    if api || driver {
        let exe = super::ecs::join_path(
            ev,
            ev!("initiating_process.folder_path"),
            ev!("initiating_process.file_name"),
        );
        doc.set("process.executable", exe);
        ev.copy(
            doc,
            ev!("initiating_process.parent_file_name"),
            "process.parent.name",
        );
        ev.copy(
            doc,
            ev!("initiating_process.parent_id"),
            "process.parent.pid",
        );
    }
    if as_process {
        ev.copy(
            doc,
            ev!("initiating_process.parent_creation_time"),
            "process.parent.start",
        );
        ev.copy(
            doc,
            ev!("initiating_process.parent_file_name"),
            "process.parent.name",
        );
    }
    if api || driver {
        ev.copy(
            doc,
            ev!("initiating_process.parent_id"),
            "process.group_leader.pid",
        );
        ev.copy(
            doc,
            ev!("initiating_process.parent_file_name"),
            "process.group_leader.name",
        );
        ev.copy(
            doc,
            ev!("initiating_process.parent_creation_time"),
            "process.group_leader.start",
        );
    }
    if as_process_hash {
        for (from, to) in AS_PROCESS_PE {
            ev.copy(doc, from, to);
        }
    }
    if any && (api || other_table || maps_process == Some(true)) {
        ev.copy(
            doc,
            ev!("initiating_process.signature_status"),
            "process.code_signature.status",
        );
    }
    for (from, to) in PROCESS_COLUMNS {
        ev.copy(doc, from, to);
    }
    split_command_lines(doc);
}

/// API-call events: the API name, its parameters out of `AdditionalFields`, and the target
/// process of calls that act on another process.
fn api_call<'a>(ctx: &Ctx<'_>, ev: &mut Ev<'a>, doc: &mut Doc<'a>) {
    if let Some(action) = ev.get(ev!("action.type")).and_then(Node::as_cow) {
        // "OpenProcessApiCall" -> "OpenProcess".
        let lower = action.to_lowercase();
        if let Some(idx) = lower.rfind("apicall") {
            if action.get(..idx).is_some() {
                let name = crate::kinds::stream::tree_common::sub(&action, |a| &a[..idx]);
                doc.set("process.Ext.api.name", name);
            }
        }
    }
    for (from, to) in [
        ("RegionSize", "process.Ext.api.parameters.size"),
        ("ProtectionMask", "process.Ext.api.parameters.protection"),
        ("BaseAddress", "process.Ext.api.parameters.address"),
        (
            "DesiredAccess",
            "process.Ext.api.parameters.desired_access_numeric",
        ),
    ] {
        let removed = match ev.get_mut(ev!("additional_fields")) {
            Some(Node::Object(af)) => af.remove(from),
            _ => None,
        };
        if let Some(v) = removed {
            let v = if from == "ProtectionMask" && !v.is_null() && v.as_str() != Some("") {
                Node::Str(v.to_text().unwrap_or_default())
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
        ev.copy(doc, ev!("file.name"), "Target.process.name");
        ev.copy(
            doc,
            ev!("process.command_line"),
            "Target.process.command_line",
        );
        let exe = super::ecs::join_path(ev, ev!("folder_path"), ev!("file.name"));
        doc.set("Target.process.executable", exe);
    }
}

/// `process.args` / `process.parent.args` (and counts) from the command lines.
fn split_command_lines(doc: &mut Doc<'_>) {
    for (cmd_path, args_path, count_path) in [
        ("process.command_line", "process.args", "process.args_count"),
        (
            "process.parent.command_line",
            "process.parent.args",
            "process.parent.args_count",
        ),
    ] {
        let Some(Node::Str(cmd)) = doc.get(cmd_path).filter(|c| c.as_str() != Some("")) else {
            continue;
        };
        let cmd = cmd.clone();
        let args = argv_of(&cmd);
        let count = args.len();
        doc.set(args_path, args);
        doc.set(count_path, count);
    }
}

/// [`command_line_to_argv`] of a command line of the record. Without double quotes the rules
/// come down to splitting at spaces and tabs (backslashes only escape quotes), and the
/// arguments borrow the record where the command line does.
fn argv_of<'a>(cmd: &Cow<'a, str>) -> Vec<Node<'a>> {
    if cmd.contains('"') {
        return command_line_to_argv(cmd)
            .into_iter()
            .map(Node::from)
            .collect();
    }
    let parts = cmd.split([' ', '\t']).filter(|a| !a.is_empty());
    match cmd {
        Cow::Borrowed(text) => text
            .split([' ', '\t'])
            .filter(|a| !a.is_empty())
            .map(Node::from)
            .collect(),
        Cow::Owned(_) => parts.map(|a| Node::from(a.to_owned())).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The step on the `m365_defender.event` fields of `doc`.
    fn map(ctx: &Ctx<'_>, doc: &mut Doc<'static>) {
        let mut ev = Ev::from_doc(doc);
        super::map(ctx, &mut ev, doc);
        ev.write(doc, true);
    }

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
    fn argv_of_record_text_is_the_windows_split() {
        for cmd in [
            r"C:\Windows\system32\svchost.exe -k netsvcs -p",
            "a\tb  c ",
            r#""C:\Program Files\x.exe" -a "b c""#,
            r"a\\b\ c\",
            "",
        ] {
            let want: Vec<Node<'_>> = command_line_to_argv(cmd)
                .into_iter()
                .map(Node::from)
                .collect();
            assert_eq!(argv_of(&Cow::Borrowed(cmd)), want, "{cmd}");
            assert_eq!(argv_of(&Cow::Owned(cmd.to_string())), want, "{cmd}");
        }
    }

    #[test]
    fn process_events_make_initiating_process_the_parent() {
        let mut d = Doc::new();
        d.set("m365_defender.event.initiating_process.id", 10u64);
        d.set(
            "m365_defender.event.initiating_process.file_name",
            "cmd.exe",
        );
        d.set("m365_defender.event.process.id", 20u64);
        d.set("m365_defender.event.file.name", "child.exe");
        let ctx = Ctx {
            table: "DeviceProcessEvents",
            cats: vec!["process"],
            action: None,
        };
        map(&ctx, &mut d);
        assert_eq!(d.get("process.pid").unwrap().to_value(), json!(20));
        assert_eq!(d.get("process.parent.pid").unwrap().to_value(), json!(10));
        assert_eq!(d.get_str("process.name"), Some("child.exe"));
        assert_eq!(d.get_str("process.parent.name"), Some("cmd.exe"));
    }

    #[test]
    fn api_call_names_api_and_target() {
        let mut d = Doc::new();
        d.set("m365_defender.event.action.type", "OpenProcessApiCall");
        d.set("m365_defender.event.file.name", "lsass.exe");
        d.set("m365_defender.event.folder_path", "c:\\windows\\system32");
        d.set(
            "m365_defender.event.additional_fields.DesiredAccess",
            4096u64,
        );
        let ctx = Ctx {
            table: "DeviceEvents",
            cats: vec!["api"],
            action: Some("openprocessapicall".into()),
        };
        map(&ctx, &mut d);
        assert_eq!(d.get_str("process.Ext.api.name"), Some("OpenProcess"));
        assert_eq!(
            d.get("process.Ext.api.parameters.desired_access_numeric")
                .unwrap()
                .to_value(),
            json!(4096)
        );
        assert_eq!(
            d.get_str("Target.process.executable"),
            Some("c:\\windows\\system32\\lsass.exe")
        );
    }
}
