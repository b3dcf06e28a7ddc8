//! The pieces of the end-to-end test that are not Gridwork: `tauri-driver`
//! started and torn down by process id, and a small synchronous face over
//! a `fantoccini` WebDriver session (one kept-alive HTTP connection) whose
//! waits poll with a deadline and, when they give up, say what the page
//! showed.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

/// How often waits look again.
const POLL: Duration = Duration::from_millis(200);

/// A free loopback port (free when asked; nothing else here takes ports).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("a loopback port").local_addr().expect("its address").port()
}

/// The ids of `pid`'s descendants (children first, then theirs), read from
/// `/proc/*/stat`.
fn descendants(pid: u32) -> Vec<u32> {
    let mut parents = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(child) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
            // "PID (COMM) STATE PPID ...": COMM may hold spaces and parentheses.
            let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else { continue };
            if let Some(parent) = rest.split_whitespace().nth(1).and_then(|p| p.parse::<u32>().ok()) {
                parents.push((child, parent));
            }
        }
    }
    let mut found = vec![pid];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(parents.iter().filter(|(_, p)| *p == parent).map(|(c, _)| *c));
        i += 1;
    }
    found.remove(0);
    found
}

fn kill_pid(pid: u32) {
    let _ = Command::new("kill").arg("-KILL").arg(pid.to_string()).stderr(Stdio::null()).status();
}

/// `tauri-driver` on its own ports, the app's files in temporary
/// directories (the app it launches inherits this environment).
pub struct TauriDriver {
    child: Child,
    pub port: u16,
    /// XDG_DATA_HOME, XDG_CONFIG_HOME, XDG_CACHE_HOME of the app.
    pub dirs: tempfile::TempDir,
}

impl std::fmt::Debug for TauriDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TauriDriver").field("pid", &self.child.id()).field("port", &self.port).finish()
    }
}

impl TauriDriver {
    pub fn start() -> TauriDriver {
        let program = std::env::var_os("TAURI_DRIVER").map(PathBuf::from).unwrap_or_else(|| {
            let installed = std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo/bin/tauri-driver"));
            installed.filter(|p| p.exists()).unwrap_or_else(|| PathBuf::from("tauri-driver"))
        });
        let dirs = tempfile::tempdir().expect("a temporary directory");
        for sub in ["data", "config", "cache"] {
            std::fs::create_dir_all(dirs.path().join(sub)).expect("a directory");
        }
        let (port, native_port) = (free_port(), free_port());
        let mut child = Command::new(&program)
            .args(["--port", &port.to_string(), "--native-port", &native_port.to_string()])
            .env("XDG_DATA_HOME", dirs.path().join("data"))
            .env("XDG_CONFIG_HOME", dirs.path().join("config"))
            .env("XDG_CACHE_HOME", dirs.path().join("cache"))
            .env("GRIDWORK_KEY_STORE", "file")
            .env_remove("GRIDWORK_SERVER")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "tauri-driver ({}) does not start: {e}. Install it with \
                     `cargo install tauri-driver --version '^2' --locked`",
                    program.display()
                )
            });
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "tauri-driver exited at once ({status}); is WebKitWebDriver installed (webkit2gtk-driver)?"
                );
            }
            assert!(Instant::now() < deadline, "tauri-driver did not listen on port {port} within 20 s");
            std::thread::sleep(Duration::from_millis(100));
        }
        TauriDriver { child, port, dirs }
    }

    pub fn xdg_data_home(&self) -> PathBuf {
        self.dirs.path().join("data")
    }
}

impl Drop for TauriDriver {
    /// Kills tauri-driver, WebKitWebDriver and the app, by process id.
    fn drop(&mut self) {
        let tree = descendants(self.child.id());
        let _ = self.child.kill();
        for pid in tree {
            kill_pid(pid);
        }
        let _ = self.child.wait();
    }
}

/// A WebDriver session on the app.
pub struct Ui {
    runtime: tokio::runtime::Runtime,
    client: Option<Client>,
    /// Where a screenshot of a failure goes.
    failure_shot: PathBuf,
}

impl std::fmt::Debug for Ui {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ui").finish_non_exhaustive()
    }
}

/// `[data-testid="NAME"]`.
pub fn tid(name: &str) -> String {
    format!("[data-testid=\"{name}\"]")
}

impl Ui {
    /// A new session launching `application` through the driver.
    pub fn open(driver: &TauriDriver, application: &Path, failure_shot: PathBuf) -> Ui {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime");
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("browserName".into(), json!("wry"));
        capabilities.insert("tauri:options".into(), json!({ "application": application }));
        let url = format!("http://127.0.0.1:{}", driver.port);
        let client = runtime
            .block_on(async {
                let connector = hyper_util::client::legacy::connect::HttpConnector::new();
                tokio::time::timeout(
                    Duration::from_secs(60),
                    ClientBuilder::new(connector).capabilities(capabilities).connect(&url),
                )
                .await
            })
            .unwrap_or_else(|_| panic!("no WebDriver session from {url} within 60 s"))
            .unwrap_or_else(|e| panic!("no WebDriver session from {url} for {}: {e}", application.display()));
        Ui { runtime, client: Some(client), failure_shot }
    }

    fn client(&self) -> &Client {
        self.client.as_ref().expect("the session is open")
    }

    /// Runs one WebDriver exchange to its end (at most 30 s).
    pub fn block<T, E: std::fmt::Display>(
        &self,
        what: &str,
        future: impl std::future::Future<Output = Result<T, E>>,
    ) -> Result<T, String> {
        match self.runtime.block_on(async { tokio::time::timeout(Duration::from_secs(30), future).await }) {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(format!("{what}: {e}")),
            Err(_) => Err(format!("{what}: no answer within 30 s")),
        }
    }

    /// Runs a script in the page; its `return` value.
    pub fn js(&self, script: &str) -> Value {
        self.block("execute script", self.client().execute(script, vec![]))
            .unwrap_or_else(|e| self.fail(&format!("the script `{script}` failed: {e}")))
    }

    fn try_js(&self, script: &str) -> Option<Value> {
        self.block("execute script", self.client().execute(script, vec![])).ok()
    }

    /// What the page shows, as text.
    pub fn page_text(&self) -> String {
        match self.try_js("return document.body ? document.body.innerText : ''") {
            Some(Value::String(text)) => text,
            other => format!("(could not read the page: {other:?})"),
        }
    }

    /// The route (the part after `#`).
    pub fn route(&self) -> String {
        match self.try_js("return location.hash") {
            Some(Value::String(hash)) => hash.trim_start_matches('#').to_owned(),
            _ => String::new(),
        }
    }

    /// Fails the test saying what the page showed (and saves a screenshot).
    pub fn fail(&self, message: &str) -> ! {
        let shot = match self.block("screenshot", self.client().screenshot()) {
            Ok(png) => match std::fs::write(&self.failure_shot, png) {
                Ok(()) => format!("screenshot: {}", self.failure_shot.display()),
                Err(e) => format!("screenshot not saved: {e}"),
            },
            Err(e) => format!("no screenshot: {e}"),
        };
        panic!(
            "{message}\n--- route: {}\n--- the page shows:\n{}\n--- {shot}",
            self.route(),
            self.page_text().trim()
        );
    }

    /// Polls `probe` until it answers, for at most `timeout`.
    pub fn wait<T>(&self, what: &str, timeout: Duration, mut probe: impl FnMut(&Ui) -> Option<T>) -> T {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(found) = probe(self) {
                return found;
            }
            if Instant::now() >= deadline {
                self.fail(&format!("timed out after {timeout:?} waiting for {what}"));
            }
            std::thread::sleep(POLL);
        }
    }

    /// The first displayed element matching `css`, if any now.
    pub fn displayed(&self, css: &str) -> Option<Element> {
        let all = self.block("find", self.client().find_all(Locator::Css(css))).ok()?;
        all.into_iter().find(|e| self.block("is displayed", e.is_displayed()).unwrap_or(false))
    }

    /// Waits until an element matching `css` is displayed.
    pub fn wait_for(&self, css: &str, timeout: Duration) -> Element {
        self.wait(&format!("`{css}` to be shown"), timeout, |ui| ui.displayed(css))
    }

    /// Clicks the displayed element matching `css` (waiting for it, and
    /// again while something lies over it).
    pub fn click(&self, css: &str) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let last = match self.displayed(css) {
                Some(element) => match self.block("click", element.click()) {
                    Ok(()) => return,
                    Err(e) => e,
                },
                None => "not shown".to_owned(),
            };
            if Instant::now() >= deadline {
                self.fail(&format!("could not click `{css}` within 15 s: {last}"));
            }
            std::thread::sleep(POLL);
        }
    }

    /// Types `text` into the displayed element matching `css`.
    pub fn type_into(&self, css: &str, text: &str) {
        let element = self.wait_for(css, Duration::from_secs(15));
        if let Err(e) = self.block("send keys", element.send_keys(text)) {
            self.fail(&format!("could not type {text:?} into `{css}`: {e}"));
        }
    }

    /// Empties a text input with the keyboard (Backspace as often as it
    /// has characters), as a worker would.
    pub fn erase(&self, css: &str) {
        let element = self.wait_for(css, Duration::from_secs(15));
        let length =
            self.block("value", element.prop("value")).ok().flatten().map(|v| v.chars().count()).unwrap_or(0);
        let keys: String = std::iter::repeat_n('\u{E003}', length + 2).collect();
        // End first, so every Backspace has a character before the caret.
        if let Err(e) = self.block("send keys", element.send_keys(&format!("\u{E010}{keys}"))) {
            self.fail(&format!("could not erase `{css}`: {e}"));
        }
    }

    /// Sends the path of a local file to a file input (the element need not
    /// be visible: file inputs are usually hidden under a nicer button).
    pub fn choose_file(&self, css: &str, path: &Path) {
        let element = self.wait(&format!("`{css}` in the page"), Duration::from_secs(15), |ui| {
            ui.block("find", ui.client().find(Locator::Css(css))).ok()
        });
        let path = path.to_str().expect("a UTF-8 path");
        if let Err(e) = self.block("send keys", element.send_keys(path)) {
            self.fail(&format!("could not choose the file {path} in `{css}`: {e}"));
        }
    }

    /// What an element shows, as the page's `innerText` has it.
    /// (WebKitWebDriver's own "element text" leaves out text in a
    /// `display: -webkit-box` line clamp, such as a row's subtitle.)
    pub fn element_text(&self, element: &Element) -> Result<String, String> {
        let reference = serde_json::to_value(element).map_err(|e| e.to_string())?;
        let text =
            self.block("innerText", self.client().execute("return arguments[0].innerText", vec![reference]))?;
        match text {
            Value::String(text) => Ok(text),
            _ => self.block("text", element.text()),
        }
    }

    /// The text of the displayed element matching `css` (waiting for it).
    pub fn text(&self, css: &str) -> String {
        let element = self.wait_for(css, Duration::from_secs(15));
        self.element_text(&element).unwrap_or_else(|e| self.fail(&format!("no text of `{css}`: {e}")))
    }

    /// Waits until the displayed element matching `css` has text containing
    /// `wanted`.
    pub fn wait_text(&self, css: &str, wanted: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let seen = match self.displayed(css) {
                Some(element) => match self.element_text(&element) {
                    Ok(text) if text.contains(wanted) => return text,
                    Ok(text) => format!("it shows {text:?}"),
                    Err(e) => e,
                },
                None => "it is not shown".to_owned(),
            };
            if Instant::now() >= deadline {
                self.fail(&format!(
                    "timed out after {timeout:?} waiting for `{css}` to show {wanted:?}: {seen}"
                ));
            }
            std::thread::sleep(POLL);
        }
    }

    /// Waits until the route matches `prefix` and returns it.
    pub fn wait_route(&self, prefix: &str, timeout: Duration) -> String {
        self.wait(&format!("the route {prefix}…"), timeout, |ui| {
            let route = ui.route();
            route.starts_with(prefix).then_some(route)
        })
    }

    /// Waits until the route's path (without its query) is `path`.
    pub fn wait_path(&self, path: &str, timeout: Duration) {
        self.wait(&format!("the route {path}"), timeout, |ui| {
            (ui.route().split('?').next() == Some(path)).then_some(())
        })
    }

    /// Sets the window's size (the webview fills it).
    pub fn set_window_size(&self, width: u32, height: u32) -> Result<(), String> {
        self.block("set window rect", self.client().set_window_size(width, height))
    }

    /// The page's viewport size in CSS pixels.
    pub fn viewport(&self) -> (u64, u64) {
        let size = self.js("return [window.innerWidth, window.innerHeight]");
        (size[0].as_u64().unwrap_or(0), size[1].as_u64().unwrap_or(0))
    }

    /// A PNG of the window.
    pub fn screenshot(&self) -> Vec<u8> {
        self.block("screenshot", self.client().screenshot())
            .unwrap_or_else(|e| self.fail(&format!("no screenshot: {e}")))
    }
}

impl Drop for Ui {
    /// Ends the session (WebKitWebDriver closes the app with it).
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            let _ = self
                .runtime
                .block_on(async { tokio::time::timeout(Duration::from_secs(10), client.close()).await });
        }
    }
}
