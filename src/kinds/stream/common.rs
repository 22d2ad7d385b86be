//! The tables and string rules of Elastic's `m365_defender.event` default pipeline that the
//! shared steps (`tree_common`) use: the envelope renames, the tables without
//! `application.name`, the category check, and the Java behaviour its scripts rely on
//! (`String.trim`, `HashSet` iteration order).

use super::{family_ecs, CATEGORY_PREFIX};

/// Envelope fields that Elastic renames as they are (any JSON type).
pub(super) const ENVELOPE_RENAMES: &[(&str, &str)] = &[
    ("operationName", "m365_defender.event.operation_name"),
    ("Tenant", "m365_defender.event.tenant.name"),
    ("tenantId", "m365_defender.event.tenant.id"),
];

/// Room for the columns a family writes under `m365_defender.event` before its
/// duplicate-field removal (the largest tables write about 50).
pub(super) const EVENT_CAPACITY: usize = 32;

/// Tables whose fixture (test-app-and-identity, an older era) predates the default pipeline's
/// `application.name` step; the newer fixtures (test-behavior) have it. The fixtures are the spec.
pub(super) const TABLES_WITHOUT_APPLICATION_NAME: &[&str] = &[
    "IdentityLogonEvents",
    "IdentityQueryEvents",
    "IdentityDirectoryEvents",
    "IdentityInfo",
    "CloudAppEvents",
];

/// A category Elastic's pipeline maps: one with a family function.
pub(super) fn is_supported(category: &str) -> bool {
    category
        .strip_prefix(CATEGORY_PREFIX)
        .is_some_and(|t| family_ecs(t).is_some())
}

/// The script's executable: first space-separated token of the trimmed line, its last `/`
/// segment, without double quotes. A trailing `:` also goes: Linux daemons rewrite their title
/// (`nginx: master process …`), and the newer fixture (test-cloud) stores `nginx`.
pub(super) fn first_word(cmd: &str) -> String {
    let trimmed = java_trim(cmd);
    let first = trimmed.split(' ').next().unwrap_or("");
    let base = first.rsplit('/').next().unwrap_or(first);
    let base = base.replace('"', "");
    base.strip_suffix(':').map(str::to_string).unwrap_or(base)
}

/// Java's `String.trim()`: strips every char up to U+0020, not just Unicode whitespace.
pub(crate) fn java_trim(s: &str) -> &str {
    s.trim_matches(|c: char| c <= ' ')
}

/// The iteration order of a `java.util.HashSet` filled with `items` in order (no duplicates):
/// buckets in index order, insertion order within a bucket (resizing keeps it), the table
/// starting at 16 buckets and doubling past a 0.75 load.
pub(crate) fn java_hash_set_order<S: AsRef<str>>(items: Vec<S>) -> Vec<S> {
    let mut capacity: u32 = 16;
    while items.len() as u64 > u64::from(capacity) * 3 / 4 {
        capacity *= 2;
    }
    let mut keyed: Vec<(u32, S)> = items
        .into_iter()
        .map(|s| (java_spread_hash(s.as_ref()) & (capacity - 1), s))
        .collect();
    keyed.sort_by_key(|(bucket, _)| *bucket);
    keyed.into_iter().map(|(_, s)| s).collect()
}

/// `String.hashCode()` over UTF-16 units, then `HashMap.hash`'s `h ^ (h >>> 16)`.
fn java_spread_hash(s: &str) -> u32 {
    let h = s
        .encode_utf16()
        .fold(0u32, |h, c| h.wrapping_mul(31).wrapping_add(u32::from(c)));
    h ^ (h >> 16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_set_order_matches_java() {
        // Java: new HashSet() + add("backgroundtaskhost.exe"), add("backgroundTaskHost.exe")
        // iterates in this order (Elastic's test-device fixture shows it).
        let got = java_hash_set_order(vec!["backgroundtaskhost.exe", "backgroundTaskHost.exe"]);
        assert_eq!(got, ["backgroundtaskhost.exe", "backgroundTaskHost.exe"]);
        // "Aa" and "BB" collide in Java; insertion order decides.
        assert_eq!(java_hash_set_order(vec!["BB", "Aa"]), ["BB", "Aa"]);
    }

    #[test]
    fn first_word_strips_path_and_quotes() {
        assert_eq!(first_word("  \"/usr/bin/python3\" -c x"), "python3");
        assert_eq!(
            first_word("\"backgroundTaskHost.exe\" -ServerName:x"),
            "backgroundTaskHost.exe"
        );
        assert_eq!(first_word("nginx: master process nginx -g"), "nginx");
    }
}
