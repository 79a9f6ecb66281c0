//! A 1 GiB file is streamed by `StaticFiles` without being read into
//! memory: the body is a file range the server sends with sendfile, so the
//! process's resident memory barely moves while curl downloads it. (Alone in
//! its own test binary so no other test's allocations blur the measure.)

mod common;

use common::TestServer;
use osprey::StaticFiles;

/// Resident set size of this process in KiB (`VmRSS` in /proc/self/status).
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status")
}

#[test]
fn one_gibibyte_streams_in_small_memory() {
    const GIB: u64 = 1 << 30;
    let dir = tempfile::tempdir().unwrap();
    // Sparse: no disk space used, reads return zeros.
    let file = std::fs::File::create(dir.path().join("huge.bin")).unwrap();
    file.set_len(GIB).unwrap();
    drop(file);
    let server = TestServer::start(StaticFiles::new(dir.path()).unwrap());
    let before = rss_kib();
    let out = std::process::Command::new("curl")
        .args(["-s", "-S", "--max-time", "120", "-o", "/dev/null"])
        .args(["-w", "%{http_code} %{size_download}"])
        .arg(server.url("/huge.bin"))
        .output()
        .expect("run curl");
    let after = rss_kib();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("200 {GIB}"),
        "the whole file arrived"
    );
    let grew_mib = after.saturating_sub(before) / 1024;
    assert!(grew_mib < 100, "RSS grew by {grew_mib} MiB");

    // A range deep in the file is served the same way.
    let out = std::process::Command::new("curl")
        .args([
            "-s",
            "-S",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{size_download}",
        ])
        .args(["-H", "Range: bytes=1073741000-"])
        .arg(server.url("/huge.bin"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "206 824");
}
