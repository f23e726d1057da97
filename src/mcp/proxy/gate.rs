//! The proxy's stdio front, with a framing gate before the MCP server: every line from the
//! client is judged before rmcp parses it, so that a batch, a malformed, oversized or
//! duplicate-id message, or a request before `initialize`, gets a clear JSON-RPC error (rmcp
//! alone drops some silently, answers others without an id, and ends the session on a first
//! message that is not `initialize`). What passes is the gate's own parse, written out again:
//! rmcp reads exactly what the gate judged (one value per key, no second reading).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use rmcp::model::{ClientJsonRpcMessage, ClientRequest, JsonRpcMessage};
use rmcp::ServiceExt;
use serde::Deserialize as _;
use serde_json::{json, Value};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

use super::McpProxy;

/// JSON-RPC's "parse error".
const PARSE_ERROR: i64 = -32700;
/// JSON-RPC's "invalid request".
const INVALID_REQUEST: i64 = -32600;
/// JSON-RPC's "invalid params".
const INVALID_PARAMS: i64 = -32602;

/// The largest `max_message_bytes` there is: rmcp's own line limit (16 MiB), past which it
/// would drop a message without an answer.
pub const MAX_MESSAGE_BYTES: usize = 16 << 20;

/// Limits of the stdio front.
#[derive(Clone, Copy, Debug)]
pub struct GateLimits {
    /// The longest message (one line, without its newline) accepted from the client; a longer
    /// one is discarded unread and answered with an error. Default 4 MiB; at most
    /// [`MAX_MESSAGE_BYTES`] (a larger value is lowered to it).
    pub max_message_bytes: usize,
}

impl Default for GateLimits {
    fn default() -> Self {
        Self {
            max_message_bytes: 4 << 20,
        }
    }
}

/// Serves `proxy` to one client over a line-delimited JSON-RPC stream (`input` from the client,
/// `output` to it: the process's stdin and stdout for `agentcap mcp-proxy`). Returns when the
/// client closes its input and the proxy has answered what it had in flight.
///
/// # Errors
/// Reading the input or writing the output failed.
pub async fn serve_stdio<R, W>(
    proxy: McpProxy,
    input: R,
    output: W,
    limits: GateLimits,
) -> std::io::Result<()>
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (gate_end, server_end) = tokio::io::duplex(1 << 16);
    let server = tokio::spawn(async move {
        match proxy.serve(tokio::io::split(server_end)).await {
            Ok(running) => {
                let _ = running.waiting().await;
            }
            Err(e) => tracing::warn!(agentcap.proxy_error = %e, "MCP session ended"),
        }
    });
    let (from_server, mut to_server) = tokio::io::split(gate_end);
    let (tx, rx) = mpsc::channel::<Vec<u8>>(256);
    let in_flight = Arc::new(Mutex::new(HashSet::new()));
    let writer = tokio::spawn(write_lines(output, rx));
    let pump = tokio::spawn(pump(from_server, tx.clone(), in_flight.clone()));

    let mut gate = Gate {
        initialized: false,
        in_flight,
    };
    let max = limits.max_message_bytes.min(MAX_MESSAGE_BYTES);
    let mut reader = BufReader::new(input);
    let mut line = Vec::new();
    loop {
        match read_line(&mut reader, max, &mut line).await? {
            Read::Eof => break,
            Read::TooLong => {
                let text = format!("message longer than {max} bytes: discarded");
                send(&tx, error(&Value::Null, INVALID_REQUEST, &text)).await;
            }
            Read::Line => match gate.judge(&line) {
                Verdict::Pass(value) => {
                    let mut out = value.to_string().into_bytes();
                    out.push(b'\n');
                    if to_server.write_all(&out).await.is_err() {
                        break;
                    }
                }
                Verdict::Reply(reply) => send(&tx, reply).await,
                Verdict::Drop => {}
            },
        }
    }
    drop(tx);
    let _ = to_server.shutdown().await;
    let _ = server.await;
    let _ = pump.await;
    writer
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))?
}

enum Read {
    Line,
    TooLong,
    Eof,
}

/// Reads one line into `buf` (without `\n` or a trailing `\r`), never holding more than `max`
/// bytes of it: a longer line is consumed and reported as [`Read::TooLong`].
async fn read_line<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    max: usize,
    buf: &mut Vec<u8>,
) -> std::io::Result<Read> {
    buf.clear();
    let mut too_long = false;
    let mut read_any = false;
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok(match (read_any, too_long) {
                (false, _) => Read::Eof,
                (true, true) => Read::TooLong,
                (true, false) => Read::Line,
            });
        }
        read_any = true;
        let (chunk, used, end) = match available.iter().position(|b| *b == b'\n') {
            Some(i) => (available.get(..i).unwrap_or_default(), i + 1, true),
            None => (available, available.len(), false),
        };
        if !too_long {
            if buf.len() + chunk.len() > max {
                too_long = true;
                buf.clear();
            } else {
                buf.extend_from_slice(chunk);
            }
        }
        reader.consume(used);
        if end {
            if buf.last() == Some(&b'\r') {
                buf.pop();
            }
            return Ok(if too_long { Read::TooLong } else { Read::Line });
        }
    }
}

enum Verdict {
    /// Pass this value (the gate's parse) to the server.
    Pass(Value),
    Reply(Value),
    Drop,
}

struct Gate {
    initialized: bool,
    in_flight: Arc<Mutex<HashSet<String>>>,
}

fn error(id: &Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

impl Gate {
    fn judge(&mut self, line: &[u8]) -> Verdict {
        if line.iter().all(u8::is_ascii_whitespace) {
            return Verdict::Drop;
        }
        let value: Value = match serde_json::from_slice(line) {
            Ok(v) => v,
            Err(_) => return Verdict::Reply(error(&Value::Null, PARSE_ERROR, "parse error")),
        };
        let Value::Object(message) = &value else {
            let why = if value.is_array() {
                "batches are not supported"
            } else {
                "not a JSON-RPC message"
            };
            return Verdict::Reply(error(&Value::Null, INVALID_REQUEST, why));
        };
        let id = message.get("id");
        let valid_id = match id {
            Some(Value::String(_)) => true,
            Some(Value::Number(n)) => n.is_i64() || n.is_u64(),
            _ => false,
        };
        let reply_id = if valid_id { id.cloned() } else { None }.unwrap_or(Value::Null);
        if message.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
            return Verdict::Reply(error(&reply_id, INVALID_REQUEST, "jsonrpc must be \"2.0\""));
        }
        let method = match message.get("method") {
            None => None,
            Some(Value::String(m)) => Some(m.as_str()),
            Some(_) => {
                return Verdict::Reply(error(&reply_id, INVALID_REQUEST, "method must be a string"))
            }
        };
        match (method, id) {
            // A notification.
            (Some(method), None) => {
                if !self.initialized || !typed(&value) {
                    return Verdict::Drop;
                }
                // rmcp answers nothing for a cancelled request: its id is free again.
                if method == "notifications/cancelled" {
                    if let (Some(id), Ok(mut in_flight)) =
                        (value.pointer("/params/requestId"), self.in_flight.lock())
                    {
                        in_flight.remove(&id.to_string());
                    }
                }
                Verdict::Pass(value)
            }
            (Some(_), Some(_)) if !valid_id => Verdict::Reply(error(
                &Value::Null,
                INVALID_REQUEST,
                "id must be a string or an integer",
            )),
            // A request.
            (Some(method), Some(id)) => {
                let (method, id) = (method.to_owned(), id.clone());
                self.request(&method, &id, value)
            }
            // A response to a request of ours (the proxy sends none; rmcp drops strays).
            (None, Some(_)) if self.initialized && typed(&value) => Verdict::Pass(value),
            (None, Some(_)) => Verdict::Drop,
            (None, None) => {
                Verdict::Reply(error(&reply_id, INVALID_REQUEST, "no method and no id"))
            }
        }
    }

    fn request(&mut self, method: &str, id: &Value, value: Value) -> Verdict {
        if !self.initialized && method == "ping" {
            return Verdict::Reply(json!({"jsonrpc": "2.0", "id": id, "result": {}}));
        }
        if !self.initialized && method != "initialize" {
            return Verdict::Reply(error(id, INVALID_REQUEST, "send initialize first"));
        }
        if self.initialized && method == "initialize" {
            return Verdict::Reply(error(id, INVALID_REQUEST, "already initialized"));
        }
        if !typed(&value) {
            return Verdict::Reply(error(id, INVALID_PARAMS, "invalid params"));
        }
        let key = id.to_string();
        let Ok(mut in_flight) = self.in_flight.lock() else {
            return Verdict::Reply(error(id, INVALID_REQUEST, "proxy state unavailable"));
        };
        if !in_flight.insert(key) {
            return Verdict::Reply(error(
                id,
                INVALID_REQUEST,
                "duplicate id: a request with this id is in progress",
            ));
        }
        self.initialized = true;
        Verdict::Pass(value)
    }
}

/// The client requests MCP defines (rmcp 3.9): one of these that rmcp can only read as a
/// custom request has malformed params.
const STANDARD_REQUESTS: [&str; 20] = [
    "initialize",
    "ping",
    "server/discover",
    "completion/complete",
    "logging/setLevel",
    "prompts/get",
    "prompts/list",
    "resources/list",
    "resources/templates/list",
    "resources/read",
    "resources/subscribe",
    "resources/unsubscribe",
    "resources/directory/read",
    "subscriptions/listen",
    "tools/call",
    "tools/list",
    "tasks/get",
    "tasks/cancel",
    "skills/list",
    "skills/get",
];

/// Whether rmcp can parse the message as what its method says (a message it cannot parse
/// would end the session; a standard request with malformed params would reach the server's
/// custom-request path).
fn typed(value: &Value) -> bool {
    // Deserialised from the borrowed value: no copy of the message on every line.
    match ClientJsonRpcMessage::deserialize(value) {
        Ok(JsonRpcMessage::Request(r)) => match &r.request {
            ClientRequest::CustomRequest(c) => !STANDARD_REQUESTS.contains(&c.method.as_str()),
            _ => true,
        },
        Ok(_) => true,
        Err(_) => false,
    }
}

async fn send(tx: &mpsc::Sender<Vec<u8>>, value: Value) {
    let _ = tx.send(value.to_string().into_bytes()).await;
}

/// Copies the server's lines to the client, retiring the ids it answers.
async fn pump<R: AsyncRead + Unpin>(
    from_server: R,
    tx: mpsc::Sender<Vec<u8>>,
    in_flight: Arc<Mutex<HashSet<String>>>,
) {
    let mut lines = BufReader::new(from_server).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if let Ok(Value::Object(m)) = serde_json::from_str::<Value>(&line) {
            if !m.contains_key("method") {
                if let (Some(id), Ok(mut set)) = (m.get("id"), in_flight.lock()) {
                    set.remove(&id.to_string());
                }
            }
        }
        if tx.send(line.into_bytes()).await.is_err() {
            break;
        }
    }
}

async fn write_lines<W: AsyncWrite + Unpin>(
    mut output: W,
    mut rx: mpsc::Receiver<Vec<u8>>,
) -> std::io::Result<()> {
    while let Some(mut line) = rx.recv().await {
        line.push(b'\n');
        output.write_all(&line).await?;
        output.flush().await?;
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn gate(initialized: bool) -> Gate {
        Gate {
            initialized,
            in_flight: Arc::new(Mutex::new(HashSet::new())),
        }
    }

    fn passes(g: &mut Gate, line: &str) -> bool {
        matches!(g.judge(line.as_bytes()), Verdict::Pass(_))
    }

    const INIT: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;

    #[test]
    fn only_initialize_passes_first_and_only_once() {
        let mut g = gate(false);
        for line in [
            r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#,
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
            r#"{"jsonrpc":"2.0","id":3,"result":{}}"#,
        ] {
            assert!(!passes(&mut g, line), "{line}");
        }
        assert!(passes(&mut g, INIT));
        assert!(!passes(&mut g, &INIT.replace("\"id\":1", "\"id\":9")));
        assert!(passes(
            &mut g,
            r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#
        ));
    }

    #[test]
    fn an_id_in_flight_is_refused_until_answered() {
        let mut g = gate(true);
        let call = r#"{"jsonrpc":"2.0","id":"a","method":"tools/list"}"#;
        assert!(passes(&mut g, call));
        assert!(!passes(&mut g, call));
        // The integer 7 and the string "7" are different ids.
        assert!(passes(
            &mut g,
            r#"{"jsonrpc":"2.0","id":7,"method":"tools/list"}"#
        ));
        assert!(passes(
            &mut g,
            r#"{"jsonrpc":"2.0","id":"7","method":"tools/list"}"#
        ));
        g.in_flight.lock().unwrap().remove(&json!("a").to_string());
        assert!(passes(&mut g, call));
    }

    #[test]
    fn a_cancelled_id_is_free_again_and_what_passes_is_the_gates_parse() {
        let mut g = gate(true);
        let call = r#"{"jsonrpc":"2.0","id":5,"method":"tools/list"}"#;
        assert!(passes(&mut g, call));
        assert!(!passes(&mut g, call));
        assert!(passes(
            &mut g,
            r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":5}}"#
        ));
        assert!(passes(&mut g, call));
        // Duplicate keys: what rmcp receives is the one value the gate judged.
        let twice = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","id":2}"#;
        match g.judge(twice.as_bytes()) {
            Verdict::Pass(v) => assert_eq!(v["id"], json!(2)),
            _ => panic!("not passed"),
        }
        assert!(g.in_flight.lock().unwrap().contains("2"));
    }

    proptest! {
        /// Whatever a client sends, the gate does not panic, and what it passes is a message
        /// rmcp reads as what its method says (so no line can end the session).
        #[test]
        fn the_gate_passes_only_typed_messages(
            bytes in proptest::collection::vec(any::<u8>(), 0..256),
            method in prop_oneof![
                Just("tools/call"), Just("tools/list"), Just("initialize"), Just("ping"),
                Just("resources/read"), Just("x/y"), Just("notifications/cancelled"),
            ],
            id in prop_oneof![Just(json!(1)), Just(json!("k")), Just(json!(null)),
                Just(json!(1.5)), Just(json!([1])), Just(json!(-3))],
            params in prop_oneof![Just(json!({})), Just(json!({"name": 7})),
                Just(json!({"name": "t", "arguments": {"a": 1}})), Just(json!([1])),
                Just(json!(null)), Just(json!("s"))],
            initialized in any::<bool>(),
        ) {
            let mut g = gate(initialized);
            let _ = g.judge(&bytes);
            let message = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
            let line = message.to_string();
            let was_initialized = g.initialized;
            if let Verdict::Pass(_) = g.judge(line.as_bytes()) {
                prop_assert!(typed(&message));
                prop_assert!(was_initialized || method == "initialize");
            }
        }
    }
}
