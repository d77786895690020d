//! Just enough of the Chrome DevTools Protocol to drive a page like a person: open it,
//! wait for a condition, click an element with the mouse, read values, take a
//! screenshot. Over the page's own WebSocket, against Debian's headless chromium.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub fn chromium() -> String {
    let path = std::env::var("KEYROLL_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&path).exists(),
        "{path} not found: this test needs Debian's chromium; scripts/test installs it (apt-get install chromium)"
    );
    path
}

pub struct Browser {
    child: Child,
    page: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    profile: PathBuf,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

impl Browser {
    /// Headless chromium with a blank page, on a free debugging port.
    pub async fn launch() -> Self {
        let profile = std::env::temp_dir().join(format!(
            "keyroll-cdp-{}-{}",
            std::process::id(),
            hex::encode(keyroll_core::random::bytes::<4>())
        ));
        let mut child = Command::new(chromium())
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--window-size=1280,900",
                "--remote-debugging-port=0",
                "--remote-debugging-address=127.0.0.1",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start chromium");
        let stderr = BufReader::new(child.stderr.take().expect("stderr"));
        let mut lines = stderr.lines();
        let endpoint = lines
            .by_ref()
            .map_while(Result::ok)
            .find_map(|line| {
                line.split_once("DevTools listening on ")
                    .map(|(_, url)| url.trim().to_owned())
            })
            .expect("chromium never opened its debugging port");
        std::thread::spawn(move || for _ in lines {});
        // ws://127.0.0.1:PORT/devtools/browser/… → the page targets at /json/list.
        let port = endpoint
            .trim_start_matches("ws://127.0.0.1:")
            .split('/')
            .next()
            .unwrap()
            .to_owned();
        let mut page_url = None;
        for _ in 0..50 {
            let list: Value = reqwest::get(format!("http://127.0.0.1:{port}/json/list"))
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            page_url = list
                .as_array()
                .unwrap()
                .iter()
                .find(|t| t["type"] == "page")
                .and_then(|t| t["webSocketDebuggerUrl"].as_str())
                .map(str::to_owned);
            if page_url.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let (page, _) = tokio_tungstenite::connect_async(page_url.expect("no page target"))
            .await
            .expect("connect to the page");
        Self {
            child,
            page,
            next_id: 0,
            profile,
        }
    }

    /// Sends one command and returns its result (events in between are skipped).
    pub async fn send(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let message = json!({"id": id, "method": method, "params": params}).to_string();
        self.page.send(Message::text(message)).await.unwrap();
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(30), self.page.next())
                .await
                .unwrap_or_else(|_| panic!("{method}: no answer"))
                .expect("the page closed")
                .unwrap();
            let Message::Text(text) = frame else { continue };
            let reply: Value = serde_json::from_str(&text).unwrap();
            if reply["id"] == id {
                assert!(reply["error"].is_null(), "{method}: {}", reply["error"]);
                return reply["result"].clone();
            }
        }
    }

    pub async fn open(&mut self, url: &str) {
        self.send("Page.navigate", json!({"url": url})).await;
    }

    /// The value of a JavaScript expression in the page (promises awaited).
    pub async fn eval(&mut self, expression: &str) -> Value {
        let result = self
            .send(
                "Runtime.evaluate",
                json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
            )
            .await;
        assert!(
            result["exceptionDetails"].is_null(),
            "{expression}: {}",
            result["exceptionDetails"]
        );
        result["result"]["value"].clone()
    }

    /// Waits (up to 20 s) until `expression` is true in the page. While a navigation
    /// replaces the document it may have no body yet: an expression that throws then
    /// counts as not true yet, and is asked again.
    pub async fn wait_for(&mut self, expression: &str) {
        for _ in 0..100 {
            let guarded = format!("(() => {{ try {{ return Boolean({expression}); }} catch (e) {{ return false; }} }})()");
            if self.eval(&guarded).await == json!(true) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let body = self
            .eval("document.body ? document.body.innerText : ''")
            .await;
        panic!("timed out waiting for {expression}; the page says:\n{body}");
    }

    /// Clicks the middle of the element `selector` names with the mouse, as a person
    /// would (pressed and released at its coordinates).
    pub async fn click(&mut self, selector: &str) {
        let quoted = serde_json::to_string(selector).unwrap();
        let centre = self
            .eval(&format!(
                "(() => {{ const e = document.querySelector({quoted}); if (!e) return null; e.scrollIntoView({{block: 'center'}}); const r = e.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; }})()"
            ))
            .await;
        let [x, y] = [&centre[0], &centre[1]].map(|v| {
            v.as_f64()
                .unwrap_or_else(|| panic!("no element {selector} to click"))
        });
        for kind in ["mousePressed", "mouseReleased"] {
            self.send(
                "Input.dispatchMouseEvent",
                json!({"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1}),
            )
            .await;
        }
    }

    /// Types `text` into the field `selector` names, as a person would: the field is
    /// focused and emptied, then the text inserted as keyboard input.
    pub async fn type_into(&mut self, selector: &str, text: &str) {
        let quoted = serde_json::to_string(selector).unwrap();
        let found = self
            .eval(&format!(
                "(() => {{ const e = document.querySelector({quoted}); if (!e) return false; e.focus(); e.value = ''; return true; }})()"
            ))
            .await;
        assert_eq!(found, json!(true), "no field {selector} to type into");
        if !text.is_empty() {
            self.send("Input.insertText", json!({"text": text})).await;
        }
    }

    /// A PNG of the page as shown.
    pub async fn screenshot(&mut self, path: &Path) {
        let shot = self
            .send("Page.captureScreenshot", json!({"format": "png"}))
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().unwrap())
            .unwrap();
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        std::fs::write(path, png).unwrap();
    }
}
