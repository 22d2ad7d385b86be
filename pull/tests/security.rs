//! Security properties of the pull engine (issue 8, part 4):
//!
//! - TLS verification is on by default: against a loopback HTTPS server with a self-signed
//!   certificate (`openssl s_server`), the engine fails with a certificate error without
//!   `tls.ca_file`, and gets past TLS with it.
//! - Secrets given by file or by environment variable never reach a log line (trace level), a
//!   record, a checkpoint file or the config's `Debug`.
//! - Checkpoint files are private to their owner (mode 0600).
//!
//! The TLS test needs the `openssl` command; without it, it says so and passes.

mod common;

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use defender_bridge_pull::emulator::EmulatorConfig;
use defender_bridge_pull::{Engine, PullConfig, Stats};

/// `openssl s_server` on a free loopback port; killed on drop.
struct TlsServer {
    child: Child,
    port: u16,
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A self-signed certificate for `localhost` / 127.0.0.1 (an end-entity certificate, its own
/// issuer): `(cert.pem, key.pem)` in `dir`.
fn self_signed(dir: &Path) -> Option<(String, String)> {
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    let ok = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
        ])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .args([
            "-addext",
            "keyUsage=critical,digitalSignature,keyEncipherment",
        ])
        .args(["-addext", "extendedKeyUsage=serverAuth"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    ok.then(|| (cert.display().to_string(), key.display().to_string()))
}

fn tls_server(cert: &str, key: &str) -> TlsServer {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("openssl")
        .args(["s_server", "-quiet", "-www", "-accept"])
        .arg(format!("127.0.0.1:{port}"))
        .args(["-cert", cert, "-key", key])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl s_server starts");
    // Wait until it accepts connections (the loop cap only prevents a hang).
    for _ in 0..2000 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    TlsServer { child, port }
}

/// Runs the engine against `base` until it has logged `want_lines` warnings or errors; returns
/// every log line.
fn run_until_errors(base: &str, extra: &[(&str, &str)], want_lines: usize) -> String {
    let log = Arc::new(Captured::default());
    // A short HTTP timeout: with the CA file, s_server accepts the TLS session and then never
    // answers the token POST.
    let mut settings = vec![
        ("sources", "alerts"),
        ("retry_attempts", "1"),
        ("log_level", "debug"),
        ("http_timeout", "1s"),
    ];
    settings.extend_from_slice(extra);
    let engine = Engine::start(config_at(base, &settings), log.clone()).expect("engine starts");
    let stats = engine.stats();
    for _ in 0..20_000 {
        let errors = Stats::get(&stats.sources[0].errors);
        if errors as usize >= want_lines {
            break;
        }
        assert!(
            engine.take(10).is_none(),
            "a record from a TLS server that is not Defender"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    engine.stop();
    let lines = log.0.lock().unwrap().join("\n");
    lines
}

fn is_certificate_error(log: &str) -> bool {
    let l = log.to_ascii_lowercase();
    l.contains("certificate") || l.contains("unknownissuer") || l.contains("unknown issuer")
}

#[test]
fn tls_verification_is_on_by_default_and_a_ca_file_adds_trust() {
    if Command::new("openssl").arg("version").output().is_err() {
        println!("tls: SKIPPED (no openssl command to run a self-signed HTTPS server)");
        return;
    }
    let dir = temp_dir("tls");
    let (cert, key) = self_signed(&dir).expect("openssl makes a self-signed certificate");
    let server = tls_server(&cert, &key);
    let base = format!("https://localhost:{}", server.port);

    // No CA file: the handshake fails on the certificate, and nothing is fetched. With it, TLS
    // succeeds and what fails is the HTTP exchange (s_server is not an OAuth endpoint).
    let without = run_until_errors(&base, &[], 4);
    let with = run_until_errors(&base, &[("tls.ca_file", cert.as_str())], 2);
    let first = |log: &str| {
        log.lines()
            .find(|l| l.starts_with("[error]") || l.starts_with("[warn]"))
            .unwrap_or("")
            .to_string()
    };
    println!("tls: without tls.ca_file: {}", first(&without));
    println!("tls: with tls.ca_file:    {}", first(&with));
    assert!(
        is_certificate_error(&without),
        "no certificate error without the CA file:\n{without}"
    );
    assert!(
        !is_certificate_error(&with),
        "certificate error although the CA file trusts it:\n{with}"
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs a full pull with the secret given by `key` = `value`; returns everything it wrote or
/// logged, and the delivered count.
fn pull_everything(
    emu: &defender_bridge_pull::emulator::Emulator,
    dir: &Path,
    key: &str,
    value: &str,
) -> (String, u64) {
    let n = 20;
    let log = Arc::new(Captured::default());
    let cfg: PullConfig = config(
        emu,
        &[
            ("client_secret", ""),
            (key, value),
            ("target", "ecs"),
            ("state_dir", dir.to_str().unwrap()),
            ("preserve_original_event", "true"),
            ("log_level", "trace"),
        ],
    );
    let mut out = format!("{cfg:?}");
    let engine = Engine::start(cfg, log.clone()).unwrap();
    let mut seen = Delivered {
        keep_json: true,
        ..Default::default()
    };
    drain(&engine, &mut seen, 6 * n);
    engine.stop();
    out.push_str(&seen.json.join("\n"));
    out.push_str(&log.0.lock().unwrap().join("\n"));
    out.push_str(&read_all(dir));
    (out, seen.total)
}

#[test]
fn secrets_from_file_or_environment_never_appear() {
    let emu = emulator(EmulatorConfig {
        records: 20,
        ..Default::default()
    });

    let dir = temp_dir("secret-file");
    let secret_file = dir.join("secret.txt");
    std::fs::write(&secret_file, format!("{SECRET}\n")).unwrap();
    let state = dir.join("state");
    let (out, n) = pull_everything(
        &emu,
        &state,
        "client_secret_file",
        secret_file.to_str().unwrap(),
    );
    println!("secrets: client_secret_file: {n} records, {} bytes of output, logs and checkpoints scanned", out.len());
    assert!(n >= 120);
    assert!(!out.contains(SECRET), "the secret from the file leaked");
    let _ = std::fs::remove_dir_all(&dir);

    let var = format!("DEFENDER_BRIDGE_TEST_SECRET_{}", std::process::id());
    std::env::set_var(&var, SECRET);
    let dir = temp_dir("secret-env");
    let (out, n) = pull_everything(&emu, &dir, "client_secret_env", &var);
    println!(
        "secrets: client_secret_env: {n} records, {} bytes of output, logs and checkpoints scanned",
        out.len()
    );
    assert!(n >= 120);
    assert!(
        !out.contains(SECRET),
        "the secret from the environment leaked"
    );
    std::env::remove_var(&var);
    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg(unix)]
#[test]
fn checkpoint_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let emu = emulator(EmulatorConfig {
        records: 10,
        ..Default::default()
    });
    let dir = temp_dir("perms");
    let log = Arc::new(Captured::default());
    let engine = start(config(&emu, &[("state_dir", dir.to_str().unwrap())]), &log);
    let mut seen = Delivered::default();
    drain(&engine, &mut seen, 60);
    engine.stop();
    let mut files = 0;
    for e in std::fs::read_dir(&dir).unwrap().flatten() {
        let mode = e.metadata().unwrap().permissions().mode() & 0o777;
        println!("perms: {} {mode:o}", e.file_name().to_string_lossy());
        assert_eq!(
            mode & 0o077,
            0,
            "{} is readable by others (mode {mode:o})",
            e.path().display()
        );
        files += 1;
    }
    assert!(files > 0, "no checkpoint files written");
    let _ = std::fs::remove_dir_all(&dir);
}
