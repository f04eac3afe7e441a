//! A headless Chromium driven through WebDriver: `/usr/bin/chromedriver` on a free loopback
//! port, a fantoccini client with a fresh profile directory, screenshots under
//! `target/screenshots/`. Dropping a [`Browser`] (also on panic) kills chromedriver and the
//! Chromium it started (one process group).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use tempfile::TempDir;

use crate::util::{describe, poll_until};

pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// A running headless Chromium and its WebDriver client.
pub struct Browser {
    pub client: Client,
    driver: Driver,
}

/// chromedriver's process (group) and the profile directory; dropping it kills the group.
struct Driver {
    child: Option<Child>,
    // Declared last: removed after the processes are gone.
    profile: TempDir,
}

impl Driver {
    fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        // The whole group: chromedriver and the Chromium processes it started.
        let group = format!("-{}", child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).output();
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        self.stop();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Where screenshots go: `<workspace>/target/screenshots` (not committed).
pub fn screenshot_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots")
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session (1280×1000 window).
    pub async fn start() -> Browser {
        for bin in [CHROMEDRIVER, CHROMIUM] {
            assert!(
                std::path::Path::new(bin).exists(),
                "{bin} is missing: apt-get install chromium chromium-driver (scripts/test does)"
            );
        }
        let profile = tempfile::Builder::new()
            .prefix("chromium.")
            .tempdir_in("/tmp")
            .expect("profile dir");
        let port = free_port();
        let mut cmd = Command::new(CHROMEDRIVER);
        cmd.arg(format!("--port={port}"))
            .arg(format!(
                "--log-path={}",
                profile.path().join("chromedriver.log").display()
            ))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // Its own process group: Drop ends chromedriver and every Chromium process it started.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        eprintln!("[e2e] starting `{}`", describe(&cmd));
        let driver = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {CHROMEDRIVER}: {e}"));
        let driver = Driver {
            child: Some(driver),
            profile,
        };
        let up = poll_until(Duration::from_secs(20), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).ok()
        });
        assert!(up.is_some(), "chromedriver did not listen on {port}");
        let args = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1280,1000",
        ]
        .into_iter()
        .map(str::to_owned)
        .chain([format!(
            "--user-data-dir={}",
            driver.profile.path().join("profile").display()
        )])
        .collect::<Vec<_>>();
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), "chrome".into());
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({ "binary": CHROMIUM, "args": args }),
        );
        let client = ClientBuilder::rustls()
            .expect("rustls connector")
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "no WebDriver session: {e}\n--- chromedriver log ---\n{}",
                    crate::util::tail_file(&driver.profile.path().join("chromedriver.log"), 30)
                )
            });
        Browser { client, driver }
    }

    /// Opens `url` and waits for the page.
    pub async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("goto {url}: {e}"));
    }

    /// The current URL's path and query.
    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.expect("current url");
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        }
    }

    /// The visible text of `<main>` (retried while a navigation replaces the page).
    pub async fn main_text(&self) -> String {
        let mut last = None;
        for _ in 0..20 {
            match self.client.find(Locator::Css("main")).await {
                Ok(e) => match e.text().await {
                    Ok(t) => return t,
                    Err(err) => last = Some(err),
                },
                Err(err) => last = Some(err),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no text of <main>: {last:?}");
    }

    /// The page's HTML.
    pub async fn source(&self) -> String {
        self.client.source().await.expect("page source")
    }

    /// Types `text` into the field matched by the CSS selector (cleared first).
    pub async fn fill(&self, css: &str, text: &str) {
        let e = self
            .client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no field {css}: {e}"));
        e.clear().await.expect("clear");
        e.send_keys(text).await.expect("type");
    }

    /// Clicks the element matched by the CSS selector.
    pub async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("nothing to click at {css}: {e}"))
            .click()
            .await
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    /// Clicks the button, else the link, whose text is `text`; inside `<main>` first (the
    /// header has a "Change password" link and a "Sign out" button).
    pub async fn click_text(&self, text: &str) {
        let candidates = [
            format!("//main//button[normalize-space()='{text}']"),
            format!("//button[normalize-space()='{text}']"),
            format!("//main//a[normalize-space()='{text}']"),
            format!("//a[normalize-space()='{text}']"),
        ];
        for xpath in &candidates {
            if let Ok(e) = self.client.find(Locator::XPath(xpath)).await {
                return e
                    .click()
                    .await
                    .unwrap_or_else(|e| panic!("click {text:?}: {e}"));
            }
        }
        panic!(
            "no button or link {text:?} on {}:\n{}",
            self.path().await,
            self.main_text().await
        );
    }

    /// Saves a PNG of the whole page (the window grown to the page's height, at most 4000 px)
    /// as `target/screenshots/<name>.png`; returns its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let height = self
            .client
            .execute(
                "return Math.ceil(document.documentElement.scrollHeight)",
                vec![],
            )
            .await
            .ok()
            .and_then(|v| v.as_u64())
            .unwrap_or(1000)
            .clamp(600, 4000) as u32;
        let _ = self.client.set_window_size(1280, height + 140).await;
        let png = self.client.screenshot().await.expect("screenshot");
        let _ = self.client.set_window_size(1280, 1000).await;
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write screenshot");
        eprintln!("[e2e] screenshot {}", path.display());
        path
    }

    /// Ends the session (Chromium quits), then chromedriver.
    pub async fn close(self) {
        let Browser { client, mut driver } = self;
        let _ = tokio::time::timeout(Duration::from_secs(10), client.close()).await;
        driver.stop();
    }
}
