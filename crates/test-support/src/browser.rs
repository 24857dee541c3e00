//! A headless Chromium for tests of web pages, driven over the DevTools protocol
//! (`headless_chrome`; no chromedriver, and never a downloaded browser).
//!
//! The browser is `SIGNET_CHROMIUM` if set, else `/usr/bin/chromium`; with neither,
//! [`Browser::launch`] returns `None` and the test should print `skipped: no chromium` and
//! return (CI installs it). Every browser gets a fresh profile directory and the flags that
//! keep it from reaching out to the network (tests only ever talk to loopback servers).

use std::ffi::OsStr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use headless_chrome::{LaunchOptions, Tab};

/// Flags for a quiet, offline, headless Chromium.
const ARGS: [&str; 9] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
];

/// A running headless Chromium with one tab.
pub struct Browser {
    tab: Arc<Tab>,
    // Dropped after the tab: the process ends, then its profile is deleted.
    _browser: headless_chrome::Browser,
    _profile: tempfile::TempDir,
}

/// The Chromium executable to use, if there is one.
pub fn chromium_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("SIGNET_CHROMIUM").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let default = PathBuf::from("/usr/bin/chromium");
    default.exists().then_some(default)
}

impl Browser {
    /// Starts Chromium, or `None` (after printing `skipped: no chromium`) when there is none.
    /// Panics if a Chromium is configured but does not start.
    pub fn launch() -> Option<Browser> {
        let Some(path) = chromium_path() else {
            println!("skipped: no chromium (set SIGNET_CHROMIUM or install chromium)");
            return None;
        };
        let profile = tempfile::tempdir().expect("profile directory");
        let options = LaunchOptions {
            headless: true,
            sandbox: false,
            path: Some(path.clone()),
            user_data_dir: Some(profile.path().to_path_buf()),
            args: ARGS.iter().map(OsStr::new).collect(),
            window_size: Some((1280, 1000)),
            idle_browser_timeout: Duration::from_secs(600),
            ..LaunchOptions::default()
        };
        let browser = headless_chrome::Browser::new(options)
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", path.display()));
        let tab = browser.new_tab().expect("a tab");
        tab.set_default_timeout(Duration::from_secs(20));
        Some(Browser {
            tab,
            _browser: browser,
            _profile: profile,
        })
    }

    /// The tab, for anything the helpers below do not cover.
    pub fn tab(&self) -> &Arc<Tab> {
        &self.tab
    }

    /// Opens `url` and waits for the page to load.
    pub fn goto(&self, url: &str) {
        self.tab
            .navigate_to(url)
            .and_then(|t| t.wait_until_navigated())
            .unwrap_or_else(|e| panic!("navigate to {url}: {e}"));
    }

    /// The current URL.
    pub fn url(&self) -> String {
        self.tab.get_url()
    }

    /// Types `text` into the input matching `selector` (after clearing it).
    pub fn fill(&self, selector: &str, text: &str) {
        let el = self
            .tab
            .wait_for_element(selector)
            .unwrap_or_else(|e| panic!("no element {selector}: {e}"));
        el.call_js_fn("function() { this.value = ''; }", vec![], false)
            .unwrap_or_else(|e| panic!("clear {selector}: {e}"));
        el.type_into(text)
            .unwrap_or_else(|e| panic!("type into {selector}: {e}"));
    }

    /// Clicks the element matching `selector` (a submit button or a link) and waits until a
    /// new document has replaced the current one and finished loading.
    pub fn click(&self, selector: &str) {
        self.eval("window.__signetOldPage = true");
        self.tab
            .wait_for_element(selector)
            .unwrap_or_else(|e| panic!("no element {selector}: {e}"))
            .click()
            .unwrap_or_else(|e| panic!("click {selector}: {e}"));
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let done = self
                .tab
                .evaluate(
                    "window.__signetOldPage === undefined && document.readyState === 'complete'",
                    false,
                )
                .ok()
                .and_then(|r| r.value)
                .and_then(|v| v.as_bool())
                .unwrap_or(false);
            if done {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no new page after clicking {selector}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Evaluates a JavaScript expression in the page (the pages themselves run no scripts).
    pub fn eval(&self, expression: &str) -> Option<String> {
        self.tab
            .evaluate(expression, false)
            .unwrap_or_else(|e| panic!("evaluate {expression}: {e}"))
            .value
            .map(|v| v.to_string())
    }

    /// Sets a checkbox matching `selector` on or off.
    pub fn check(&self, selector: &str, on: bool) {
        let el = self
            .tab
            .wait_for_element(selector)
            .unwrap_or_else(|e| panic!("no element {selector}: {e}"));
        let f = if on {
            "function() { this.checked = true; }"
        } else {
            "function() { this.checked = false; }"
        };
        el.call_js_fn(f, vec![], false)
            .unwrap_or_else(|e| panic!("check {selector}: {e}"));
    }

    /// The visible text of the whole page.
    pub fn text(&self) -> String {
        self.text_of("body")
    }

    /// The visible text of the element matching `selector`.
    pub fn text_of(&self, selector: &str) -> String {
        self.tab
            .wait_for_element(selector)
            .and_then(|e| e.get_inner_text())
            .unwrap_or_else(|e| panic!("text of {selector}: {e}"))
    }

    /// Whether an element matches `selector` now (no waiting).
    pub fn has(&self, selector: &str) -> bool {
        self.tab.find_element(selector).is_ok()
    }

    /// Emulates a viewport `width` × `height` CSS pixels wide; `mobile` as a phone does it
    /// (the page's `<meta name="viewport">` applies, as on a 390 px phone).
    pub fn set_viewport(&self, width: u32, height: u32, mobile: bool) {
        self.tab
            .call_method(
                headless_chrome::protocol::cdp::Emulation::SetDeviceMetricsOverride {
                    width,
                    height,
                    device_scale_factor: 1.0,
                    mobile,
                    scale: None,
                    screen_width: None,
                    screen_height: None,
                    position_x: None,
                    position_y: None,
                    dont_set_visible_size: None,
                    screen_orientation: None,
                    viewport: None,
                    display_feature: None,
                    device_posture: None,
                },
            )
            .expect("set the viewport");
    }

    /// The page's (scroll width, viewport width) in CSS pixels: the page overflows sideways
    /// when the first is larger (`document.documentElement.scrollWidth` against
    /// `clientWidth`, which is `innerWidth` less a vertical scrollbar).
    pub fn widths(&self) -> (u64, u64) {
        let n = |e: &str| {
            self.eval(e)
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or_else(|| panic!("{e} is not a number"))
        };
        let scroll = n("document.documentElement.scrollWidth");
        let client = n("document.documentElement.clientWidth");
        // Whole CSS pixels (both are integers in practice).
        (scroll.round() as u64, client.round() as u64)
    }

    /// A PNG of the element matching `selector` as it is drawn.
    pub fn element_png(&self, selector: &str) -> Vec<u8> {
        self.tab
            .wait_for_element(selector)
            .unwrap_or_else(|e| panic!("no element {selector}: {e}"))
            .capture_screenshot(
                headless_chrome::protocol::cdp::Page::CaptureScreenshotFormatOption::Png,
            )
            .unwrap_or_else(|e| panic!("screenshot of {selector}: {e}"))
    }

    /// Saves a PNG screenshot of the page (for looking at a failing test).
    pub fn screenshot(&self, path: &std::path::Path) {
        let png = self
            .tab
            .capture_screenshot(
                headless_chrome::protocol::cdp::Page::CaptureScreenshotFormatOption::Png,
                None,
                None,
                true,
            )
            .expect("screenshot");
        std::fs::write(path, png).expect("write the screenshot");
    }
}
