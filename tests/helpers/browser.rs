//! A minimal WebDriver client: headless Chromium driven through
//! `chromedriver`, for tests of the dashboard page as a person sees it.
//!
//! It speaks plain HTTP/1.1 to chromedriver over a `std::net::TcpStream` (one
//! connection per command, `Connection: close`), so it needs no async runtime
//! and works the same from any test. [`Browser::start`] returns `None`, with
//! the reason on stderr, when `chromedriver` or `chromium` is not installed
//! (Debian: `apt-get install chromium chromium-driver`), so the calling test
//! can skip; once both are there, any failure panics with what went wrong.
//!
//! Waits poll and are bounded only so that a broken page fails the test
//! instead of hanging it; nothing here asserts on how long anything took.

use std::env;
use std::fmt;
use std::fs;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tempfile::TempDir;

/// Longest wait for chromedriver to come up, or for one of its answers.
const DRIVER_TIMEOUT: Duration = Duration::from_secs(60);
/// Pause between two polls of a wait.
const POLL: Duration = Duration::from_millis(100);
/// The key under which WebDriver returns an element reference.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Chromium's flags for a headless run as root inside a container.
const CHROME_ARGS: &[&str] = &[
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--window-size=1280,1024",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-extensions",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
];

/// An error answer from chromedriver, or a failure to talk to it.
#[derive(Debug, Clone)]
pub struct WebDriverError {
    /// The HTTP status, 0 when there was no answer.
    pub status: u16,
    /// The W3C error code, e.g. `no such element`, `stale element reference`.
    pub error: String,
    pub message: String,
}

impl fmt::Display for WebDriverError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "WebDriver {} ({}): {}",
            self.error, self.status, self.message
        )
    }
}

impl WebDriverError {
    fn io(context: &str, err: impl fmt::Display) -> Self {
        WebDriverError {
            status: 0,
            error: "io".into(),
            message: format!("{context}: {err}"),
        }
    }

    /// The element was not there, or was replaced while being read: worth
    /// polling again.
    fn is_transient(&self) -> bool {
        matches!(
            self.error.as_str(),
            "no such element" | "stale element reference" | "element not interactable"
        )
    }
}

/// A headless Chromium session; chromedriver is stopped on drop.
pub struct Browser {
    driver: Child,
    port: u16,
    session: String,
    /// Holds chromedriver's log, shown when the session cannot be created.
    log_dir: TempDir,
}

impl Browser {
    /// Starts chromedriver on a free loopback port and opens a headless
    /// Chromium session. `None` (with the reason on stderr) when chromedriver
    /// or Chromium is not installed; panics when they are but do not work.
    pub fn start() -> Option<Browser> {
        let Some(driver) = find_program(
            "chromedriver",
            &["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"],
        ) else {
            eprintln!(
                "skipped: chromedriver not found on PATH or in /usr/bin (apt-get install chromium-driver)"
            );
            return None;
        };
        let Some(chromium) = find_program("chromium", &["/usr/bin/chromium"]) else {
            eprintln!(
                "skipped: chromium not found on PATH or in /usr/bin (apt-get install chromium)"
            );
            return None;
        };
        // A port taken between choosing and binding it is retried.
        let mut last_error = String::new();
        for _ in 0..3 {
            match Self::launch(&driver, &chromium) {
                Ok(browser) => return Some(browser),
                Err(err) => last_error = err,
            }
        }
        panic!(
            "could not start headless Chromium through {}: {last_error}",
            driver.display()
        );
    }

    fn launch(driver: &Path, chromium: &Path) -> Result<Browser, String> {
        let port = free_port();
        let log_dir = tempfile::tempdir().map_err(|e| format!("temporary folder: {e}"))?;
        let log_path = log_dir.path().join("chromedriver.log");
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log_path.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("run {}: {e}", driver.display()))?;
        let mut browser = Browser {
            driver: child,
            port,
            session: String::new(),
            log_dir,
        };

        // Wait for chromedriver to answer /status with ready: true.
        let deadline = Instant::now() + DRIVER_TIMEOUT;
        loop {
            if let Ok(Some(status)) = browser.driver.try_wait() {
                return Err(format!(
                    "chromedriver exited with {status}{}",
                    browser.log_tail()
                ));
            }
            if let Ok(value) = browser.http("GET", "/status", None)
                && value["ready"] == true
            {
                break;
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "chromedriver not ready after {DRIVER_TIMEOUT:?}{}",
                    browser.log_tail()
                ));
            }
            thread::sleep(POLL);
        }

        let capabilities = json!({
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "pageLoadStrategy": "normal",
                    "timeouts": { "implicit": 0, "pageLoad": 30_000, "script": 30_000 },
                    "goog:chromeOptions": {
                        "binary": chromium.to_string_lossy(),
                        "args": CHROME_ARGS,
                    },
                    "goog:loggingPrefs": { "browser": "ALL" },
                }
            }
        });
        let created = browser
            .http("POST", "/session", Some(&capabilities))
            .map_err(|e| format!("create a session: {e}{}", browser.log_tail()))?;
        let session = created["sessionId"]
            .as_str()
            .ok_or_else(|| format!("no sessionId in {created}"))?;
        browser.session = session.to_owned();
        Ok(browser)
    }

    /// The last lines of chromedriver's log, for an error message.
    fn log_tail(&self) -> String {
        let text =
            fs::read_to_string(self.log_dir.path().join("chromedriver.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(30)..].join("\n");
        if tail.is_empty() {
            String::new()
        } else {
            format!("\nchromedriver log:\n{tail}")
        }
    }

    // ---- navigation and scripts -------------------------------------------

    /// Loads `url` and waits for its load event.
    pub fn goto(&self, url: &str) {
        self.command("POST", "/url", Some(&json!({ "url": url })))
            .unwrap_or_else(|e| panic!("goto {url}: {e}"));
    }

    /// The page's console messages since the last call (Chromium's log,
    /// including CSP violations and failed loads): `{level, message, ...}`.
    pub fn console_log(&self) -> Vec<Value> {
        let value = self
            .command("POST", "/se/log", Some(&json!({ "type": "browser" })))
            .unwrap_or_else(|e| panic!("read the browser console: {e}"));
        value.as_array().cloned().unwrap_or_default()
    }

    // ---- elements ------------------------------------------------------------

    /// The number of elements matching `css` now.
    pub fn elements_count(&self, css: &str) -> usize {
        let value = self
            .command(
                "POST",
                "/elements",
                Some(&json!({ "using": "css selector", "value": css })),
            )
            .unwrap_or_else(|e| panic!("find {css}: {e}"));
        value.as_array().map_or(0, Vec::len)
    }

    /// The rendered text of the first element matching `css`.
    pub fn try_text(&self, css: &str) -> Result<String, WebDriverError> {
        let value = self.on_element(css, |id| {
            self.command("GET", &format!("/element/{id}/text"), None)
        })?;
        Ok(value.as_str().unwrap_or_default().to_owned())
    }

    /// Polls the text of `css` until `predicate` accepts it and returns it.
    /// A missing element counts as not yet; panics after `timeout` with the
    /// last text seen.
    pub fn wait_for_text(
        &self,
        css: &str,
        predicate: impl Fn(&str) -> bool,
        timeout: Duration,
    ) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let last = match self.try_text(css) {
                Ok(text) if predicate(&text) => return text,
                Ok(text) => format!("{text:?}"),
                Err(e) if e.is_transient() => format!("({e})"),
                Err(e) => panic!("text of {css}: {e}"),
            };
            if Instant::now() > deadline {
                panic!("{css}: the text never matched within {timeout:?}; last seen: {last}");
            }
            thread::sleep(POLL);
        }
    }

    /// Polls `check` until it returns `Some` and returns that; panics after
    /// `timeout` naming `what`.
    pub fn wait_until<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut check: impl FnMut(&Browser) -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(found) = check(self) {
                return found;
            }
            if Instant::now() > deadline {
                panic!("{what}: not seen within {timeout:?}");
            }
            thread::sleep(POLL);
        }
    }

    /// Types `text` into the first element matching `css` (after what it holds).
    pub fn type_into(&self, css: &str, text: &str) {
        self.on_element(css, |id| {
            self.command(
                "POST",
                &format!("/element/{id}/value"),
                Some(&json!({ "text": text })),
            )
        })
        .unwrap_or_else(|e| panic!("type into {css}: {e}"));
    }

    /// Clicks the first element matching `css`, as a user would.
    pub fn click(&self, css: &str) {
        self.on_element(css, |id| {
            self.command("POST", &format!("/element/{id}/click"), Some(&json!({})))
        })
        .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    /// An attribute of the first element matching `css` (`None` when the
    /// element has no such attribute); panics when there is no element.
    pub fn attribute(&self, css: &str, name: &str) -> Option<String> {
        let value = self
            .on_element(css, |id| {
                self.command("GET", &format!("/element/{id}/attribute/{name}"), None)
            })
            .unwrap_or_else(|e| panic!("attribute {name} of {css}: {e}"));
        value.as_str().map(str::to_owned)
    }

    /// A DOM property (e.g. `value`, `disabled`) of the first element
    /// matching `css`.
    pub fn property(&self, css: &str, name: &str) -> Value {
        self.on_element(css, |id| {
            self.command("GET", &format!("/element/{id}/property/{name}"), None)
        })
        .unwrap_or_else(|e| panic!("property {name} of {css}: {e}"))
    }

    /// Finds the first element matching `css` and runs `f` on its id; an
    /// element replaced in between (the page redraws) is looked up again.
    fn on_element(
        &self,
        css: &str,
        f: impl Fn(&str) -> Result<Value, WebDriverError>,
    ) -> Result<Value, WebDriverError> {
        let mut attempts = 0;
        loop {
            let found = self.command(
                "POST",
                "/element",
                Some(&json!({ "using": "css selector", "value": css })),
            )?;
            let id = found[ELEMENT_KEY]
                .as_str()
                .ok_or_else(|| {
                    WebDriverError::io("find element", format!("no element reference in {found}"))
                })?
                .to_owned();
            match f(&id) {
                Err(e) if e.error == "stale element reference" && attempts < 5 => attempts += 1,
                other => return other,
            }
        }
    }

    // ---- the wire ---------------------------------------------------------------

    /// A command on this session; returns the answer's `value`.
    fn command(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, WebDriverError> {
        self.http(method, &format!("/session/{}{path}", self.session), body)
    }

    /// One HTTP/1.1 exchange with chromedriver; returns the answer's `value`,
    /// or the W3C error it carries.
    fn http(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, WebDriverError> {
        let body = body.map(Value::to_string).unwrap_or_default();
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))
            .map_err(|e| WebDriverError::io("connect to chromedriver", e))?;
        stream.set_read_timeout(Some(DRIVER_TIMEOUT)).ok();
        stream.set_write_timeout(Some(DRIVER_TIMEOUT)).ok();
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: application/json\r\n\
             Content-Type: application/json; charset=utf-8\r\nContent-Length: {len}\r\n\
             Connection: close\r\n\r\n{body}",
            port = self.port,
            len = body.len(),
        );
        stream
            .write_all(request.as_bytes())
            .map_err(|e| WebDriverError::io("send to chromedriver", e))?;
        // chromedriver keeps the connection open whatever the request says,
        // so the answer ends where its framing says, not at EOF.
        let (status, payload) = read_response(&mut stream).map_err(|e| {
            WebDriverError::io(&format!("chromedriver's answer to {method} {path}"), e)
        })?;
        let _ = stream.shutdown(Shutdown::Both);
        let parsed: Value = serde_json::from_slice(&payload).map_err(|e| {
            WebDriverError::io(
                "chromedriver's answer is not JSON",
                format!("{e}: {}", String::from_utf8_lossy(&payload)),
            )
        })?;
        let value = parsed.get("value").cloned().unwrap_or(Value::Null);
        if (200..300).contains(&status) {
            return Ok(value);
        }
        Err(WebDriverError {
            status,
            error: value["error"]
                .as_str()
                .unwrap_or("unknown error")
                .to_owned(),
            message: value["message"].as_str().unwrap_or_default().to_owned(),
        })
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self.http("DELETE", &format!("/session/{}", self.session), None);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// `name` on PATH, else the first of `fallbacks` that exists.
fn find_program(name: &str, fallbacks: &[&str]) -> Option<PathBuf> {
    let on_path = env::var_os("PATH")
        .into_iter()
        .flat_map(|path| env::split_paths(&path).collect::<Vec<_>>())
        .map(|dir| dir.join(name));
    on_path
        .chain(fallbacks.iter().map(PathBuf::from))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// A loopback port free right now (the caller retries if it is taken before use).
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

/// Reads one HTTP/1.1 response: its status and body, the body delimited by
/// `Content-Length`, chunked encoding, or else the end of the stream.
fn read_response(stream: &mut impl Read) -> Result<(u16, Vec<u8>), String> {
    let mut raw = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    let mut head: Option<Head> = None;
    loop {
        if head.is_none() {
            head = parse_head(&raw)?;
        }
        if let Some(head) = &head {
            let body = &raw[head.len..];
            match head.framing {
                Framing::Length(length) if body.len() >= length => {
                    return Ok((head.status, body[..length].to_vec()));
                }
                Framing::Chunked => {
                    if let Some(body) = dechunk(body)? {
                        return Ok((head.status, body));
                    }
                }
                _ => {}
            }
        }
        let n = stream.read(&mut buf).map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            return match head {
                Some(Head {
                    status,
                    len,
                    framing: Framing::UntilEof,
                }) => Ok((status, raw[len..].to_vec())),
                _ => Err(format!(
                    "connection closed mid-answer after {:?}",
                    String::from_utf8_lossy(&raw)
                )),
            };
        }
        raw.extend_from_slice(&buf[..n]);
    }
}

struct Head {
    status: u16,
    /// Bytes up to and including the blank line.
    len: usize,
    framing: Framing,
}

enum Framing {
    Length(usize),
    Chunked,
    UntilEof,
}

/// The status line and headers, once they have all arrived.
fn parse_head(raw: &[u8]) -> Result<Option<Head>, String> {
    let Some(split) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let text = String::from_utf8_lossy(&raw[..split]);
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let mut framing = Framing::UntilEof;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("transfer-encoding") && value.eq_ignore_ascii_case("chunked") {
            framing = Framing::Chunked;
        } else if name.eq_ignore_ascii_case("content-length") {
            let length = value
                .parse()
                .map_err(|e| format!("Content-Length {value:?}: {e}"))?;
            framing = Framing::Length(length);
        }
    }
    Ok(Some(Head {
        status,
        len: split + 4,
        framing,
    }))
}

/// A chunked body decoded, or `None` while its last chunk has not arrived.
fn dechunk(mut data: &[u8]) -> Result<Option<Vec<u8>>, String> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = data.windows(2).position(|w| w == b"\r\n") else {
            return Ok(None);
        };
        let size_text = String::from_utf8_lossy(&data[..eol]);
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|e| format!("chunk size {size_text:?}: {e}"))?;
        data = &data[eol + 2..];
        if size == 0 {
            return Ok(Some(out));
        }
        if data.len() < size + 2 {
            return Ok(None);
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}
