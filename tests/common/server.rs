//! The real binary as a server, for tests that need a process to kill or a
//! data directory prepared by the CLI.

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A loopback port free at the time of the call.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `civicmap serve --no-seed` on `port` over `data_dir`.
pub fn start_server(data_dir: &Path, port: u16) -> Child {
    start_server_with(data_dir, port, &[])
}

/// Starts `civicmap serve --no-seed` on `port` over `data_dir`, with more
/// command-line arguments. The tests' clients all come from 127.0.0.1 and
/// post as a whole city would: the per-address filing quotas are lifted
/// (the quotas are tested through the router, `tests/api.rs`).
pub fn start_server_with(data_dir: &Path, port: u16, extra: &[&OsStr]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_civicmap"))
        .args([
            "serve",
            "--no-seed",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--address-reports-per-minute",
            "0",
            "--address-reports-per-day",
            "0",
            "--data-dir",
        ])
        .arg(data_dir)
        .args(extra)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

/// Waits until `GET /health` answers 200 and returns its body.
pub async fn wait_healthy(client: &reqwest::Client, base: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Ok(r) = client.get(format!("{base}/health")).send().await
            && r.status() == 200
        {
            return r.json().await.unwrap();
        }
        assert!(Instant::now() < deadline, "server did not become healthy");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Creates an API key of `role` in `data_dir` with the real CLI
/// (`civicmap keys create`), which prints the key alone on stdout.
pub fn create_key(data_dir: &Path, role: &str) -> String {
    create_key_with(data_dir, role, &[])
}

/// As [`create_key`], with more command-line arguments (e.g. a
/// `--database-url`).
pub fn create_key_with(data_dir: &Path, role: &str, extra: &[&OsStr]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_civicmap"))
        .args([
            "keys",
            "create",
            "--role",
            role,
            "--name",
            &format!("Test {role}"),
            "--data-dir",
        ])
        .arg(data_dir)
        .args(extra)
        .env("RUST_LOG", "warn")
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    assert!(out.status.success(), "keys create failed");
    let key = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(key.starts_with("cm_") && !key.contains('\n'), "{key:?}");
    key
}

/// An HTTP client sending `key` with every request.
pub fn client_with_key(key: &str, timeout: Duration) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {key}").parse().unwrap(),
    );
    reqwest::Client::builder()
        .timeout(timeout)
        .default_headers(headers)
        .build()
        .unwrap()
}
