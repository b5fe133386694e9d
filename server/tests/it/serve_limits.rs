//! The limits of `serve` are set on its command line, and bad values are refused up front.

use crate::common;

use common::{ServeProcess, run, stderr, stdout};

fn token(data: &std::path::Path) -> String {
    let output = run(
        &[
            "user", "add", "samira", "--org", "oujda", "--role", "editor",
        ],
        data,
    );
    assert!(output.status.success(), "{}", stderr(&output));
    stdout(&output).lines().last().unwrap().trim().to_owned()
}

#[test]
fn a_zero_limit_is_refused_with_its_name() {
    let dir = common::TestData::new(module_path!());
    let data = dir.path().join("data");
    token(&data);
    let output = run(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--max-loaded-documents",
            "0",
        ],
        &data,
    );
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("--max-loaded-documents must be more than 0"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn max_message_bytes_bounds_the_batch_sync_body() {
    let dir = common::TestData::new(module_path!());
    let data = dir.path().join("data");
    let token = token(&data);
    let server = ServeProcess::start_with(&data, &["--max-message-bytes", "2048"]);
    let client = reqwest::blocking::Client::new();
    let post = |len: usize| {
        client
            .post(format!("http://{}/v1/sync", server.address))
            .bearer_auth(&token)
            .header("content-type", "application/cbor")
            .body(vec![0xa0; len])
            .send()
            .unwrap()
    };
    let over = post(2049);
    assert_eq!(over.status(), 413, "one byte over the limit");
    let body: serde_json::Value = over.json().unwrap();
    assert!(body["error"].is_string(), "a JSON error body: {body}");
    // At the limit the body is read and judged on its content (here: not a sync request).
    let at = post(2048);
    assert_eq!(at.status(), 400, "read whole, then refused as malformed");
    server.stop();
}

/// Sends `POST /v1/sync` headers announcing `len` bytes of body over a raw socket.
fn slow_upload(address: std::net::SocketAddr, token: &str, len: usize) -> std::net::TcpStream {
    use std::io::Write as _;
    let mut socket = std::net::TcpStream::connect(address).unwrap();
    write!(
        socket,
        "POST /v1/sync HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/cbor\r\nContent-Length: {len}\r\n\r\n"
    )
    .unwrap();
    socket
        .set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .unwrap();
    socket
}

/// Everything the server sends until it closes the connection.
fn read_to_close(socket: &mut std::net::TcpStream) -> String {
    use std::io::Read as _;
    let mut reply = Vec::new();
    socket
        .read_to_end(&mut reply)
        .expect("the server closes the connection");
    String::from_utf8_lossy(&reply).into_owned()
}

#[test]
fn a_request_body_that_trickles_in_gets_408_and_the_connection_is_closed() {
    use std::io::Write as _;
    let dir = common::TestData::new(module_path!());
    let data = dir.path().join("data");
    let token = token(&data);
    let server = ServeProcess::start_with(
        &data,
        &[
            "--request-body-timeout-secs",
            "2",
            "--request-body-min-rate",
            "100",
        ],
    );
    // A few bytes of an announced 100 kB, then nothing: cut off once the 2 s (plus 0.1 s
    // for the 10 bytes) are over, with a JSON error, and the socket is closed.
    let mut socket = slow_upload(server.address, &token, 100_000);
    socket.write_all(&[0xa0; 10]).unwrap();
    let reply = read_to_close(&mut socket);
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
    assert!(reply.contains(r#"{"error":"#), "a JSON error body: {reply}");
    assert!(reply.contains("too slowly"), "{reply}");

    // A slow but steady upload goes through: 4 × 500 bytes a second apart, each half-kilobyte
    // buying 5 s more. It is read whole, then judged on its content (not a sync request).
    let mut socket = slow_upload(server.address, &token, 2_000);
    for _ in 0..4 {
        socket.write_all(&[0xa0; 500]).unwrap();
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
    let mut status = [0u8; 12];
    std::io::Read::read_exact(&mut socket, &mut status).unwrap();
    assert_eq!(
        &status, b"HTTP/1.1 400",
        "read whole, then refused as malformed"
    );

    // The server serves on.
    let health = reqwest::blocking::get(format!("http://{}/healthz", server.address)).unwrap();
    assert_eq!(health.status(), 200);
    server.stop();
}

#[test]
fn a_zero_request_body_timeout_is_refused() {
    let dir = common::TestData::new(module_path!());
    let data = dir.path().join("data");
    token(&data);
    let output = run(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--request-body-timeout-secs",
            "0",
        ],
        &data,
    );
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("--request-body-timeout-secs must be more than 0"),
        "{}",
        stderr(&output)
    );
}
