//! Headless Chromium for the browser tests: finding it (a missing browser
//! fails the test unless `OSPREY_SKIP_BROWSER=1` opts out on a machine
//! without one; CI installs it) and running it with the flags a closed
//! network needs.

use std::path::Path;
use std::process::Command;

/// Chromium's path, or `None` when `OSPREY_SKIP_BROWSER=1` says to skip a
/// test on a machine without it; panics otherwise.
pub fn chromium_or_skip() -> Option<&'static str> {
    let found = [
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        "/usr/bin/google-chrome",
    ]
    .into_iter()
    .find(|p| Path::new(p).exists());
    match found {
        Some(b) => Some(b),
        None if std::env::var_os("OSPREY_SKIP_BROWSER").is_some_and(|v| v == "1") => {
            eprintln!("SKIPPED (OSPREY_SKIP_BROWSER=1): no Chromium");
            None
        }
        None => {
            panic!("no Chromium: apt-get install chromium, or set OSPREY_SKIP_BROWSER=1 to skip")
        }
    }
}

/// Runs headless Chromium with the flags a closed network needs (no
/// background connections, no first-run work), the profile in `profile`,
/// and `extra`; returns what it printed (the DOM, with `--dump-dom`).
pub fn run_chromium(browser: &str, profile: &Path, extra: &[&str]) -> String {
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            // Run the page's timers and fetches to completion before dumping.
            "--virtual-time-budget=10000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .output()
        .expect("run chromium");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
