//! The demo site in a real browser: `osprey serve examples/www` on a free
//! port, loaded by headless Chromium, which runs the page's script (a fetch of
//! JSON) and reports the rendered DOM; the test checks the title, that the
//! image loaded and that the list was filled from the JSON, and saves a
//! screenshot to `target/screenshots/demo-site.png`. The same page is then
//! loaded over HTTPS from `osprey serve --tls-self-signed` (certificate
//! errors ignored: the certificate is made for the test), where the page
//! must also say (Resource Timing's `nextHopProtocol`) that it came over
//! HTTP/2.
//!
//! Chromium comes from Debian's `chromium` package (`.ci/run` installs it).
//! Without it this test fails — a test whose tool is missing must not pass —
//! unless `OSPREY_SKIP_BROWSER=1` says, on a machine without a browser, to
//! skip it.

use osprey_testkit::browser::{chromium_or_skip, run_chromium};
use osprey_testkit::ServerProcess;
use std::path::{Path, PathBuf};

const OSPREY: &str = env!("CARGO_BIN_EXE_osprey");

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Loads the demo site at `url`, checks what the page rendered, and returns
/// the DOM.
fn check_demo_page(browser: &str, profile: &Path, url: &str, extra: &[&str]) -> String {
    let dom = run_chromium(browser, profile, &[extra, &["--dump-dom", url]].concat());
    assert!(
        dom.contains("<title>Osprey demo site</title>"),
        "title missing:\n{dom}"
    );
    assert!(
        dom.contains(r#"data-image="loaded""#),
        "image did not load:\n{dom}"
    );
    assert!(
        dom.contains(r#"data-state="loaded""#),
        "JSON not loaded:\n{dom}"
    );
    assert!(dom.contains("Loaded 4 birds."), "{dom}");
    for bird in ["Osprey", "Pandion haliaetus", "Red kite", "Milvus milvus"] {
        assert!(dom.contains(bird), "{bird} missing from the list:\n{dom}");
    }
    dom
}

fn serve_demo(extra: &[&str]) -> ServerProcess {
    let www = repo_root().join("examples/www");
    let mut args = vec![
        "serve",
        www.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--quiet",
    ];
    args.extend_from_slice(extra);
    ServerProcess::start(OSPREY, &args)
}

#[test]
fn demo_site_renders_in_chromium() {
    let Some(browser) = chromium_or_skip() else {
        return;
    };
    let server = serve_demo(&[]);
    let profile = tempfile::tempdir().unwrap();
    let url = server.url("/");
    let dom = check_demo_page(browser, profile.path(), &url, &[]);
    // Cleartext: browsers speak HTTP/1.1 (they never try h2c).
    assert!(dom.contains(r#"data-protocol="http/1.1""#), "{dom}");

    let shots = repo_root().join("target/screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let shot = shots.join("demo-site.png");
    let _ = std::fs::remove_file(&shot);
    run_chromium(
        browser,
        profile.path(),
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1000,900",
            &url,
        ],
    );
    let png = std::fs::read(&shot).expect("screenshot written");
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000,
        "{} bytes",
        png.len()
    );
}

#[test]
fn demo_site_renders_over_https_in_chromium() {
    let Some(browser) = chromium_or_skip() else {
        return;
    };
    let state = tempfile::tempdir().unwrap();
    let server = serve_demo(&[
        "--tls-self-signed",
        "--tls-state-dir",
        state.path().to_str().unwrap(),
    ]);
    let profile = tempfile::tempdir().unwrap();
    let url = format!("https://localhost:{}/", server.addr.port());
    let dom = check_demo_page(
        browser,
        profile.path(),
        &url,
        &["--ignore-certificate-errors"],
    );
    // Over TLS the browser chose HTTP/2 by ALPN, for the page and the
    // fetch the page made.
    assert!(
        dom.contains(r#"data-protocol="h2""#),
        "not served over h2:\n{dom}"
    );
    assert!(dom.contains(r#"data-json-protocol="h2""#), "{dom}");
}
