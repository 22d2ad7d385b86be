//! The generated tenant. Record `i` of a source is a pure function of (seed, source, i), with
//! last-update times rising with `i` and ending at the emulator's start, so any number of
//! records costs no memory and a page is generated only when asked for. Shapes follow the
//! Defender for Endpoint and Graph security APIs.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, RngCore, SeedableRng};
use std::borrow::Cow;

use defender_bridge::tree::{Node, Obj};

use crate::config::SourceKind;
use crate::time::{self, Nanos};

/// A tree object from `"key" => value` pairs (literal, distinct keys; values `Into<Node>`):
/// cheaper to build than `json!`'s `Value`, which allocates and hashes every key.
macro_rules! obj {
    ($($k:literal => $v:expr),* $(,)?) => {
        Node::Object(Obj::from_members(vec![$((Cow::Borrowed($k), Node::from($v))),*]))
    };
}

const NULL: Node<'static> = Node::Null;

/// An empty array.
fn none() -> Node<'static> {
    Node::Array(Vec::new())
}

pub struct Tenant {
    pub seed: u64,
    pub records: u64,
    pub tenant_id: String,
    /// Time of the newest record.
    pub end: Nanos,
    /// Spacing between distinct update times.
    pub step: Nanos,
    /// Records that share one update time (exercises paging over ties).
    pub ties: u64,
}

const SEVERITIES: [&str; 4] = ["Informational", "Low", "Medium", "High"];
const CATEGORIES: [&str; 6] = [
    "Malware",
    "Execution",
    "DefenseEvasion",
    "CredentialAccess",
    "LateralMovement",
    "CommandAndControl",
];
const TITLES: [&str; 6] = [
    "An active 'Exeselrun' malware was detected",
    "Suspicious process injection observed",
    "Suspicious PowerShell command line",
    "Possible credential dumping activity",
    "Suspicious remote service creation",
    "Connection to a known malicious URL",
];
const OS: [(&str, &str); 4] = [
    ("Windows10", "22H2"),
    ("Windows11", "23H2"),
    ("WindowsServer2022", "21H2"),
    ("RedHatEnterpriseLinux", "9.5"),
];
const ACTIONS: [&str; 6] = [
    "RunAntiVirusScan",
    "Isolate",
    "Unisolate",
    "CollectInvestigationPackage",
    "RestrictCodeExecution",
    "StopAndQuarantineFile",
];
const SOFTWARE: [(&str, &str, &str); 4] = [
    ("microsoft", "edge", "120.0.2210.91"),
    ("google", "chrome", "119.0.6045.160"),
    ("red_hat", "kernel", "0:5.14.0-427.42.1.el9_4"),
    ("mozilla", "firefox", "115.4.0"),
];

fn hex(rng: &mut StdRng, n: usize) -> String {
    // Sixteen digits from each 64-bit draw: `gen_range(0..16)` per digit cost two 32-bit draws
    // on average (rand's rejection zone) and made id generation most of the emulator's work.
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(n);
    let mut bits = 0u64;
    for i in 0..n {
        if i % 16 == 0 {
            bits = rng.next_u64();
        }
        s.push(char::from(DIGITS[(bits & 15) as usize]));
        bits >>= 4;
    }
    s
}

fn guid(rng: &mut StdRng) -> String {
    format!(
        "{}-{}-{}-{}-{}",
        hex(rng, 8),
        hex(rng, 4),
        hex(rng, 4),
        hex(rng, 4),
        hex(rng, 12)
    )
}

fn ip(rng: &mut StdRng) -> String {
    format!(
        "10.{}.{}.{}",
        rng.gen_range(0..255),
        rng.gen_range(0..255),
        rng.gen_range(1..255)
    )
}

impl Tenant {
    fn rng(&self, kind: SourceKind, i: u64) -> StdRng {
        StdRng::seed_from_u64(
            self.seed ^ ((kind as u64 + 1) << 56) ^ i.wrapping_mul(0x9E37_79B9_7F4A_7C15),
        )
    }

    /// Last-update time of record `i`: rising, `ties` records per distinct time.
    pub fn time_of(&self, i: u64) -> Nanos {
        let slots_back = (self.records - 1 - i) / self.ties.max(1);
        self.end - slots_back as Nanos * self.step
    }

    /// The first index whose time is at or after `t`.
    pub fn first_at_or_after(&self, t: Nanos) -> u64 {
        let (mut lo, mut hi) = (0u64, self.records);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.time_of(mid) < t {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    fn machine(&self, j: u64) -> (String, String) {
        let mut rng = self.rng(SourceKind::Machines, j);
        (hex(&mut rng, 40), format!("c-lab-{j:03}"))
    }

    /// Machines referenced by the other records (the inventory itself has `records` machines).
    fn some_machine(&self, rng: &mut StdRng) -> (String, String) {
        self.machine(rng.gen_range(0..self.records.clamp(1, 500)))
    }

    pub fn record(&self, kind: SourceKind, i: u64, expand: bool) -> Node<'static> {
        let t = self.time_of(i);
        let mut rng = self.rng(kind, i);
        let ts = |back_secs: i64| time::format(t - back_secs * 1_000_000_000);
        match kind {
            SourceKind::Alerts => self.mde_alert(&mut rng, i, &ts, expand),
            SourceKind::Machines => self.machine_record(&mut rng, i),
            SourceKind::MachineActions => {
                let (mid, name) = self.some_machine(&mut rng);
                let action = *ACTIONS.choose(&mut rng).unwrap_or(&"Isolate");
                obj! {
                    "id" => format!("{}-{i:012x}", &guid(&mut rng)[..23]),
                    "type" => action, "title" => NULL,
                    "requestor" => format!("analyst{}@contoso.example", rng.gen_range(1..20)),
                    "requestorComment" => "Requested by the SOC", "status" => *["Succeeded", "Pending", "Failed", "TimeOut"].choose(&mut rng).unwrap_or(&"Succeeded"),
                    "machineId" => mid, "computerDnsName" => name,
                    "creationDateTimeUtc" => ts(rng.gen_range(1..600)), "lastUpdateDateTimeUtc" => ts(0),
                    "cancellationRequestor" => NULL, "cancellationComment" => NULL, "cancellationDateTimeUtc" => NULL,
                    "errorHResult" => 0, "scope" => if action == "RunAntiVirusScan" { Node::from("Quick") } else { NULL },
                    "externalId" => NULL, "requestSource" => "Portal", "relatedFileInfo" => NULL, "commands" => none(), "troubleshootInfo" => NULL
                }
            }
            SourceKind::Vulnerabilities => {
                let (mid, name) = self.some_machine(&mut rng);
                let (vendor, sw, ver) = *SOFTWARE.choose(&mut rng).unwrap_or(&SOFTWARE[0]);
                let cve = format!(
                    "CVE-20{}-{}",
                    rng.gen_range(19..26),
                    rng.gen_range(1000..60000)
                );
                let (os, _) = *OS.choose(&mut rng).unwrap_or(&OS[0]);
                obj! {
                    "id" => format!("{mid}_{vendor}_{sw}_{ver}_{cve}_{i}"),
                    "cveId" => cve, "machineId" => mid, "deviceName" => name,
                    "osPlatform" => os, "osVersion" => NULL, "osArchitecture" => "x64",
                    "softwareVendor" => vendor, "softwareName" => sw, "softwareVersion" => ver,
                    "vulnerabilitySeverityLevel" => *SEVERITIES[1..].choose(&mut rng).unwrap_or(&"Medium"),
                    "cvssScore" => (rng.gen_range(20..100) as f64) / 10.0,
                    "recommendedSecurityUpdate" => NULL, "recommendedSecurityUpdateId" => NULL, "recommendedSecurityUpdateUrl" => NULL,
                    "diskPaths" => vec![format!("C:\\Program Files\\{sw}\\{sw}.exe")], "registryPaths" => none(),
                    "firstSeenTimestamp" => ts(86_400), "lastSeenTimestamp" => ts(0), "eventTimestamp" => ts(0),
                    "exploitabilityLevel" => *["NoExploit", "ExploitIsPublic", "ExploitIsVerified"].choose(&mut rng).unwrap_or(&"NoExploit"),
                    "recommendationReference" => format!("va-_-{vendor}-_-{sw}"),
                    "rbacGroupName" => "Unassigned", "rbacGroupId" => 0,
                    "status" => *["New", "Fixed", "Updated"].choose(&mut rng).unwrap_or(&"New")
                }
            }
            SourceKind::GraphAlerts => self.graph_alert(&mut rng, i, &ts),
            SourceKind::Incidents => {
                let id = (i + 1).to_string();
                let mut v = obj! {
                    "@odata.type" => "#microsoft.graph.security.incident",
                    "id" => id.clone(), "tenantId" => self.tenant_id.clone(), "status" => *["active", "resolved", "inProgress"].choose(&mut rng).unwrap_or(&"active"),
                    "incidentWebUrl" => format!("https://security.microsoft.com/incidents/{id}?tid={}", self.tenant_id),
                    "redirectIncidentId" => NULL,
                    "displayName" => format!("Multi-stage incident involving {} on one endpoint", CATEGORIES.choose(&mut rng).unwrap_or(&"Execution")),
                    "createdDateTime" => ts(rng.gen_range(60..86_400)), "lastUpdateDateTime" => ts(0),
                    "assignedTo" => NULL, "classification" => "unknown", "determination" => "unknown",
                    "severity" => *["low", "medium", "high"].choose(&mut rng).unwrap_or(&"medium"),
                    "tags" => none(), "comments" => none(), "systemTags" => none(), "description" => NULL, "customTags" => none()
                };
                if expand {
                    let n = rng.gen_range(1..3);
                    let alerts: Vec<Node<'static>> = (0..n)
                        .map(|k| self.graph_alert(&mut rng, i * 4 + k, &ts))
                        .collect();
                    if let Node::Object(o) = &mut v {
                        o.push("alerts", Node::Array(alerts));
                    }
                }
                v
            }
        }
    }

    fn machine_record(&self, rng: &mut StdRng, j: u64) -> Node<'static> {
        let (id, name) = self.machine(j);
        let (os, ver) = *OS.choose(rng).unwrap_or(&OS[0]);
        obj! {
            "id" => id, "mergedIntoMachineId" => NULL, "isPotentialDuplication" => false, "isExcluded" => false, "exclusionReason" => NULL,
            "computerDnsName" => name, "firstSeen" => time::format(self.end - 90 * 86_400_000_000_000), "lastSeen" => time::format(self.end),
            "osPlatform" => os, "osVersion" => NULL, "osProcessor" => "x64", "version" => ver,
            "lastIpAddress" => ip(rng), "lastExternalIpAddress" => format!("203.0.113.{}", rng.gen_range(1..255)),
            "agentVersion" => "10.8790.19045.5608", "osBuild" => 19045,
            "healthStatus" => *["Active", "Inactive"].choose(rng).unwrap_or(&"Active"),
            "deviceValue" => "Normal", "rbacGroupId" => 0, "rbacGroupName" => NULL,
            "riskScore" => *SEVERITIES.choose(rng).unwrap_or(&"Low"), "exposureLevel" => *["Low", "Medium", "High"].choose(rng).unwrap_or(&"Low"),
            "isAadJoined" => rng.gen_bool(0.5), "aadDeviceId" => guid(rng), "machineTags" => none(),
            "onboardingStatus" => "Onboarded", "osArchitecture" => "64-bit", "managedBy" => "MicrosoftDefenderForEndpoint", "managedByStatus" => "Success",
            "ipAddresses" => vec![obj!{"ipAddress" => ip(rng), "macAddress" => hex(rng, 12).to_uppercase(), "type" => "Ethernet", "operationalStatus" => "Up"}],
            "vmMetadata" => NULL
        }
    }

    fn mde_alert(
        &self,
        rng: &mut StdRng,
        i: u64,
        ts: &dyn Fn(i64) -> String,
        expand: bool,
    ) -> Node<'static> {
        let (mid, name) = self.some_machine(rng);
        let k = rng.gen_range(0..TITLES.len());
        let mut v = obj! {
            "id" => format!("da{}_{}", 637_000_000_000_000_000u64 + i, rng.gen_range(-2_000_000_000i64..2_000_000_000)),
            "incidentId" => 1 + i / 3, "investigationId" => 1 + i / 3, "assignedTo" => NULL,
            "severity" => SEVERITIES[rng.gen_range(0..4)], "status" => *["New", "InProgress", "Resolved"].choose(rng).unwrap_or(&"New"),
            "classification" => NULL, "determination" => NULL, "investigationState" => "Running",
            "detectionSource" => *["WindowsDefenderAv", "WindowsDefenderAtp", "AutomatedInvestigation"].choose(rng).unwrap_or(&"WindowsDefenderAtp"),
            "detectorId" => guid(rng), "category" => CATEGORIES[k], "threatFamilyName" => NULL,
            "title" => TITLES[k], "description" => format!("{}. Generated by the defender-bridge emulator.", TITLES[k]),
            "alertCreationTime" => ts(rng.gen_range(60..3600)), "firstEventTime" => ts(3600), "lastEventTime" => ts(60),
            "lastUpdateTime" => ts(0), "resolvedTime" => NULL, "machineId" => mid, "computerDnsName" => name,
            "rbacGroupName" => NULL, "aadTenantId" => self.tenant_id.clone(), "threatName" => NULL, "mitreTechniques" => vec!["T1055"],
            "relatedUser" => obj!{"userName" => format!("user{}", rng.gen_range(1..50)), "domainName" => "CONTOSO"},
            "loggedOnUsers" => none(), "comments" => none(), "domains" => none()
        };
        if expand {
            let files: Vec<Node<'static>> = (0..rng.gen_range(1..3))
                .map(|n| obj!{
                    "entityType" => "File", "evidenceCreationTime" => ts(60), "sha1" => hex(rng, 40), "sha256" => hex(rng, 64),
                    "fileName" => format!("payload{n}.exe"), "filePath" => "C:\\Users\\Public\\Downloads",
                    "processId" => NULL, "processCommandLine" => NULL, "processCreationTime" => NULL, "parentProcessId" => NULL,
                    "parentProcessCreationTime" => NULL, "parentProcessFileName" => NULL, "parentProcessFilePath" => NULL,
                    "ipAddress" => NULL, "url" => NULL, "registryKey" => NULL, "registryHive" => NULL, "registryValueType" => NULL,
                    "registryValue" => NULL, "registryValueName" => NULL, "accountName" => NULL, "domainName" => NULL,
                    "userSid" => NULL, "aadUserId" => NULL, "userPrincipalName" => NULL, "detectionStatus" => "Detected"
                })
                .collect();
            if let Node::Object(o) = &mut v {
                o.push("evidence", Node::Array(files));
            }
        }
        v
    }

    fn graph_alert(&self, rng: &mut StdRng, i: u64, ts: &dyn Fn(i64) -> String) -> Node<'static> {
        let (mid, name) = self.some_machine(rng);
        let k = rng.gen_range(0..TITLES.len());
        let id = format!(
            "da{}_{}",
            638_000_000_000_000_000u64 + i,
            rng.gen_range(0..2_000_000_000u32)
        );
        obj! {
            "@odata.type" => "#microsoft.graph.security.alert",
            "id" => id.clone(), "providerAlertId" => id.trim_start_matches("da").to_string(), "incidentId" => (1 + i / 3).to_string(),
            "status" => *["new", "inProgress", "resolved"].choose(rng).unwrap_or(&"new"),
            "severity" => *["low", "medium", "high", "informational"].choose(rng).unwrap_or(&"medium"),
            "classification" => NULL, "determination" => NULL, "serviceSource" => "microsoftDefenderForEndpoint",
            "detectionSource" => "antivirus", "detectorId" => guid(rng), "tenantId" => self.tenant_id.clone(),
            "title" => TITLES[k], "description" => TITLES[k], "recommendedActions" => "Isolate the device and investigate.",
            "category" => CATEGORIES[k], "assignedTo" => NULL,
            "alertWebUrl" => format!("https://security.microsoft.com/alerts/{id}?tid={}", self.tenant_id),
            "incidentWebUrl" => format!("https://security.microsoft.com/incidents/{}?tid={}", 1 + i / 3, self.tenant_id),
            "actorDisplayName" => NULL, "threatDisplayName" => NULL, "threatFamilyName" => NULL, "mitreTechniques" => vec!["T1059.001"],
            "createdDateTime" => ts(rng.gen_range(60..3600)), "lastUpdateDateTime" => ts(0), "resolvedDateTime" => NULL,
            "firstActivityDateTime" => ts(3600), "lastActivityDateTime" => ts(60), "comments" => none(), "systemTags" => none(),
            "evidence" => vec![obj!{
                "@odata.type" => "#microsoft.graph.security.deviceEvidence", "createdDateTime" => ts(60), "verdict" => "unknown",
                "remediationStatus" => "none", "remediationStatusDetails" => NULL, "roles" => none(), "tags" => none(),
                "mdeDeviceId" => mid, "deviceDnsName" => name, "osPlatform" => "Windows10", "healthStatus" => "active",
                "riskScore" => "medium", "ipInterfaces" => vec![ip(rng)], "loggedOnUsers" => none()
            }],
            "additionalData" => obj!{}
        }
    }
}
