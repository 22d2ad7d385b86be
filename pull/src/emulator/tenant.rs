//! The generated tenant. Record `i` of a source is a pure function of (seed, source, i), with
//! last-update times rising with `i` and ending at the emulator's start, so any number of
//! records costs no memory and a page is generated only when asked for. Shapes follow the
//! Defender for Endpoint and Graph security APIs.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use crate::config::SourceKind;
use crate::time::{self, Nanos};

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
    (0..n)
        .map(|_| char::from_digit(rng.gen_range(0..16), 16).unwrap_or('0'))
        .collect()
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

    pub fn record(&self, kind: SourceKind, i: u64, expand: bool) -> Value {
        let t = self.time_of(i);
        let mut rng = self.rng(kind, i);
        let ts = |back_secs: i64| time::format(t - back_secs * 1_000_000_000);
        match kind {
            SourceKind::Alerts => self.mde_alert(&mut rng, i, &ts, expand),
            SourceKind::Machines => self.machine_record(&mut rng, i),
            SourceKind::MachineActions => {
                let (mid, name) = self.some_machine(&mut rng);
                let action = *ACTIONS.choose(&mut rng).unwrap_or(&"Isolate");
                json!({
                    "id": format!("{}-{i:012x}", &guid(&mut rng)[..23]),
                    "type": action, "title": null,
                    "requestor": format!("analyst{}@contoso.example", rng.gen_range(1..20)),
                    "requestorComment": "Requested by the SOC", "status": *["Succeeded", "Pending", "Failed", "TimeOut"].choose(&mut rng).unwrap_or(&"Succeeded"),
                    "machineId": mid, "computerDnsName": name,
                    "creationDateTimeUtc": ts(rng.gen_range(1..600)), "lastUpdateDateTimeUtc": ts(0),
                    "cancellationRequestor": null, "cancellationComment": null, "cancellationDateTimeUtc": null,
                    "errorHResult": 0, "scope": if action == "RunAntiVirusScan" { json!("Quick") } else { json!(null) },
                    "externalId": null, "requestSource": "Portal", "relatedFileInfo": null, "commands": [], "troubleshootInfo": null
                })
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
                json!({
                    "id": format!("{mid}_{vendor}_{sw}_{ver}_{cve}_{i}"),
                    "cveId": cve, "machineId": mid, "deviceName": name,
                    "osPlatform": os, "osVersion": null, "osArchitecture": "x64",
                    "softwareVendor": vendor, "softwareName": sw, "softwareVersion": ver,
                    "vulnerabilitySeverityLevel": *SEVERITIES[1..].choose(&mut rng).unwrap_or(&"Medium"),
                    "cvssScore": (rng.gen_range(20..100) as f64) / 10.0,
                    "recommendedSecurityUpdate": null, "recommendedSecurityUpdateId": null, "recommendedSecurityUpdateUrl": null,
                    "diskPaths": [format!("C:\\Program Files\\{sw}\\{sw}.exe")], "registryPaths": [],
                    "firstSeenTimestamp": ts(86_400), "lastSeenTimestamp": ts(0), "eventTimestamp": ts(0),
                    "exploitabilityLevel": *["NoExploit", "ExploitIsPublic", "ExploitIsVerified"].choose(&mut rng).unwrap_or(&"NoExploit"),
                    "recommendationReference": format!("va-_-{vendor}-_-{sw}"),
                    "rbacGroupName": "Unassigned", "rbacGroupId": 0,
                    "status": *["New", "Fixed", "Updated"].choose(&mut rng).unwrap_or(&"New")
                })
            }
            SourceKind::GraphAlerts => self.graph_alert(&mut rng, i, &ts),
            SourceKind::Incidents => {
                let id = (i + 1).to_string();
                let mut v = json!({
                    "@odata.type": "#microsoft.graph.security.incident",
                    "id": id, "tenantId": self.tenant_id, "status": *["active", "resolved", "inProgress"].choose(&mut rng).unwrap_or(&"active"),
                    "incidentWebUrl": format!("https://security.microsoft.com/incidents/{id}?tid={}", self.tenant_id),
                    "redirectIncidentId": null,
                    "displayName": format!("Multi-stage incident involving {} on one endpoint", CATEGORIES.choose(&mut rng).unwrap_or(&"Execution")),
                    "createdDateTime": ts(rng.gen_range(60..86_400)), "lastUpdateDateTime": ts(0),
                    "assignedTo": null, "classification": "unknown", "determination": "unknown",
                    "severity": *["low", "medium", "high"].choose(&mut rng).unwrap_or(&"medium"),
                    "tags": [], "comments": [], "systemTags": [], "description": null, "customTags": []
                });
                if expand {
                    let n = rng.gen_range(1..3);
                    let alerts: Vec<Value> = (0..n)
                        .map(|k| self.graph_alert(&mut rng, i * 4 + k, &ts))
                        .collect();
                    v["alerts"] = Value::Array(alerts);
                }
                v
            }
        }
    }

    fn machine_record(&self, rng: &mut StdRng, j: u64) -> Value {
        let (id, name) = self.machine(j);
        let (os, ver) = *OS.choose(rng).unwrap_or(&OS[0]);
        json!({
            "id": id, "mergedIntoMachineId": null, "isPotentialDuplication": false, "isExcluded": false, "exclusionReason": null,
            "computerDnsName": name, "firstSeen": time::format(self.end - 90 * 86_400_000_000_000), "lastSeen": time::format(self.end),
            "osPlatform": os, "osVersion": null, "osProcessor": "x64", "version": ver,
            "lastIpAddress": ip(rng), "lastExternalIpAddress": format!("203.0.113.{}", rng.gen_range(1..255)),
            "agentVersion": "10.8790.19045.5608", "osBuild": 19045,
            "healthStatus": *["Active", "Inactive"].choose(rng).unwrap_or(&"Active"),
            "deviceValue": "Normal", "rbacGroupId": 0, "rbacGroupName": null,
            "riskScore": *SEVERITIES.choose(rng).unwrap_or(&"Low"), "exposureLevel": *["Low", "Medium", "High"].choose(rng).unwrap_or(&"Low"),
            "isAadJoined": rng.gen_bool(0.5), "aadDeviceId": guid(rng), "machineTags": [],
            "onboardingStatus": "Onboarded", "osArchitecture": "64-bit", "managedBy": "MicrosoftDefenderForEndpoint", "managedByStatus": "Success",
            "ipAddresses": [{"ipAddress": ip(rng), "macAddress": hex(rng, 12).to_uppercase(), "type": "Ethernet", "operationalStatus": "Up"}],
            "vmMetadata": null
        })
    }

    fn mde_alert(
        &self,
        rng: &mut StdRng,
        i: u64,
        ts: &dyn Fn(i64) -> String,
        expand: bool,
    ) -> Value {
        let (mid, name) = self.some_machine(rng);
        let k = rng.gen_range(0..TITLES.len());
        let mut v = json!({
            "id": format!("da{}_{}", 637_000_000_000_000_000u64 + i, rng.gen_range(-2_000_000_000i64..2_000_000_000)),
            "incidentId": 1 + i / 3, "investigationId": 1 + i / 3, "assignedTo": null,
            "severity": SEVERITIES[rng.gen_range(0..4)], "status": *["New", "InProgress", "Resolved"].choose(rng).unwrap_or(&"New"),
            "classification": null, "determination": null, "investigationState": "Running",
            "detectionSource": *["WindowsDefenderAv", "WindowsDefenderAtp", "AutomatedInvestigation"].choose(rng).unwrap_or(&"WindowsDefenderAtp"),
            "detectorId": guid(rng), "category": CATEGORIES[k], "threatFamilyName": null,
            "title": TITLES[k], "description": format!("{}. Generated by the defender-bridge emulator.", TITLES[k]),
            "alertCreationTime": ts(rng.gen_range(60..3600)), "firstEventTime": ts(3600), "lastEventTime": ts(60),
            "lastUpdateTime": ts(0), "resolvedTime": null, "machineId": mid, "computerDnsName": name,
            "rbacGroupName": null, "aadTenantId": self.tenant_id, "threatName": null, "mitreTechniques": ["T1055"],
            "relatedUser": {"userName": format!("user{}", rng.gen_range(1..50)), "domainName": "CONTOSO"},
            "loggedOnUsers": [], "comments": [], "domains": []
        });
        if expand {
            let files: Vec<Value> = (0..rng.gen_range(1..3))
                .map(|n| json!({
                    "entityType": "File", "evidenceCreationTime": ts(60), "sha1": hex(rng, 40), "sha256": hex(rng, 64),
                    "fileName": format!("payload{n}.exe"), "filePath": "C:\\Users\\Public\\Downloads",
                    "processId": null, "processCommandLine": null, "processCreationTime": null, "parentProcessId": null,
                    "parentProcessCreationTime": null, "parentProcessFileName": null, "parentProcessFilePath": null,
                    "ipAddress": null, "url": null, "registryKey": null, "registryHive": null, "registryValueType": null,
                    "registryValue": null, "registryValueName": null, "accountName": null, "domainName": null,
                    "userSid": null, "aadUserId": null, "userPrincipalName": null, "detectionStatus": "Detected"
                }))
                .collect();
            v["evidence"] = Value::Array(files);
        }
        v
    }

    fn graph_alert(&self, rng: &mut StdRng, i: u64, ts: &dyn Fn(i64) -> String) -> Value {
        let (mid, name) = self.some_machine(rng);
        let k = rng.gen_range(0..TITLES.len());
        let id = format!(
            "da{}_{}",
            638_000_000_000_000_000u64 + i,
            rng.gen_range(0..2_000_000_000u32)
        );
        json!({
            "@odata.type": "#microsoft.graph.security.alert",
            "id": id, "providerAlertId": id.trim_start_matches("da"), "incidentId": (1 + i / 3).to_string(),
            "status": *["new", "inProgress", "resolved"].choose(rng).unwrap_or(&"new"),
            "severity": *["low", "medium", "high", "informational"].choose(rng).unwrap_or(&"medium"),
            "classification": null, "determination": null, "serviceSource": "microsoftDefenderForEndpoint",
            "detectionSource": "antivirus", "detectorId": guid(rng), "tenantId": self.tenant_id,
            "title": TITLES[k], "description": TITLES[k], "recommendedActions": "Isolate the device and investigate.",
            "category": CATEGORIES[k], "assignedTo": null,
            "alertWebUrl": format!("https://security.microsoft.com/alerts/{id}?tid={}", self.tenant_id),
            "incidentWebUrl": format!("https://security.microsoft.com/incidents/{}?tid={}", 1 + i / 3, self.tenant_id),
            "actorDisplayName": null, "threatDisplayName": null, "threatFamilyName": null, "mitreTechniques": ["T1059.001"],
            "createdDateTime": ts(rng.gen_range(60..3600)), "lastUpdateDateTime": ts(0), "resolvedDateTime": null,
            "firstActivityDateTime": ts(3600), "lastActivityDateTime": ts(60), "comments": [], "systemTags": [],
            "evidence": [{
                "@odata.type": "#microsoft.graph.security.deviceEvidence", "createdDateTime": ts(60), "verdict": "unknown",
                "remediationStatus": "none", "remediationStatusDetails": null, "roles": [], "tags": [],
                "mdeDeviceId": mid, "deviceDnsName": name, "osPlatform": "Windows10", "healthStatus": "active",
                "riskScore": "medium", "ipInterfaces": [ip(rng)], "loggedOnUsers": []
            }],
            "additionalData": {}
        })
    }
}
