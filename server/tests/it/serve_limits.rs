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
    let dir = tempfile::tempdir().unwrap();
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
    let dir = tempfile::tempdir().unwrap();
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
