//! Binary media types and `contentHandling` (spec §1.9), through an HTTP integration to the
//! test backend's `/raw-echo` (which answers the body it got, with its Content-Type).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use wasmgate_tests::{Backend, TestGateway, client};

/// Not UTF-8, so a text path would mangle it.
const PNG: &[u8] = &[0x89, b'P', b'N', b'G', 0x00, 0x9f, 0x92, 0x96, 0xff];

fn manifest(backend: &Backend) -> String {
    let route = |path: &str, extra: &str| {
        format!(
            "[apis.b.resources.\"/{path}\".resourceMethods.POST.methodIntegration]\n\
             type = \"HTTP\"\nhttpMethod = \"POST\"\nuri = \"http://{}/raw-echo\"\n{extra}\n",
            backend.addr
        )
    };
    let mut m = String::from("version = 1\n[apis.b]\nbinaryMediaTypes = [\"image/png\", \"application/*\"]\n");
    m.push_str("[apis.b.stages.dev]\n");
    // No contentHandling: a binary payload passes both ways (templates do not apply to it); a
    // binary response for a client that accepts text is base64-encoded.
    m.push_str(&route(
        "pass",
        "requestTemplates = { \"image/png\" = 'never rendered for a binary payload' }\n\
         integrationResponses.\"200\".responseTemplates = { \"text/plain\" = 'b64=$input.body' }",
    ));
    // CONVERT_TO_TEXT on the request: the template sees the payload as base64.
    m.push_str(&route(
        "to-text",
        "contentHandling = \"CONVERT_TO_TEXT\"\n\
         requestParameters = { \"integration.request.header.Content-Type\" = \"'text/plain'\" }\n\
         requestTemplates = { \"image/png\" = 'data=$input.body' }\n\
         integrationResponses.\"200\" = {}",
    ));
    // CONVERT_TO_BINARY on the request: base64 text becomes bytes.
    m.push_str(&route("to-binary", "contentHandling = \"CONVERT_TO_BINARY\"\nintegrationResponses.\"200\" = {}"));
    // CONVERT_TO_BINARY on the response: the backend's base64 text becomes bytes.
    m.push_str(&route("response-to-binary", "integrationResponses.\"200\".contentHandling = \"CONVERT_TO_BINARY\""));
    m
}

#[tokio::test]
async fn binary_payloads_and_content_handling() {
    let backend = Backend::start().await;
    let gw = TestGateway::start(&manifest(&backend)).await;
    let c = client();
    let post = |path: &str, content_type: &str, accept: &str, body: Vec<u8>| {
        c.post(gw.url(&format!("/dev/{path}")))
            .header("content-type", content_type)
            .header("accept", accept)
            .body(body)
            .send()
    };

    // Binary both ways: the bytes arrive and come back untouched.
    let r = post("pass", "image/png", "image/png", PNG.to_vec()).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "image/png");
    assert_eq!(r.bytes().await.unwrap(), PNG);

    // A binary response for a client that accepts text: base64, which the template sees.
    let r = post("pass", "image/png", "text/plain", PNG.to_vec()).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), format!("b64={}", STANDARD.encode(PNG)));

    // CONVERT_TO_TEXT: the backend gets the rendered template over the base64 text.
    let r = post("to-text", "image/png", "text/plain", PNG.to_vec()).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), format!("data={}", STANDARD.encode(PNG)));

    // CONVERT_TO_BINARY: base64 text in, the bytes to the backend (and back, as text/plain
    // is not a binary type: a text payload for a text client passes as it is).
    let r = post("to-binary", "text/plain", "text/plain", STANDARD.encode(PNG).into_bytes()).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap(), PNG);

    // ... and text that is not base64 is a configuration error: 500.
    let r = post("to-binary", "text/plain", "text/plain", b"not base64!".to_vec()).await.unwrap();
    assert_eq!(r.status(), 500);
    assert_eq!(r.text().await.unwrap(), r#"{"message":"Internal server error"}"#);

    // Response CONVERT_TO_BINARY: the backend's base64 text reaches the client as bytes.
    let r = post("response-to-binary", "text/plain", "text/plain", STANDARD.encode(PNG).into_bytes()).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap(), PNG);

    // A text payload for a client that accepts a binary type (a wildcard of the list) is
    // base64-decoded, as API Gateway does.
    let r = post("pass", "text/plain", "application/pdf", STANDARD.encode(b"%PDF").into_bytes()).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap(), &b"%PDF"[..]);
}

#[tokio::test]
async fn bad_binary_settings_are_refused() {
    for (manifest, want) in [
        (
            "version = 1\n[apis.b]\nbinaryMediaTypes = [\"png\"]\n[apis.b.stages.dev]\n",
            "apis.b.binaryMediaTypes[0]: `png` is not a media type",
        ),
        (
            "version = 1\n[apis.b.stages.dev]\n[apis.b.resources.\"/x\".resourceMethods.GET.methodIntegration]\ntype = \"MOCK\"\ncontentHandling = \"CONVERT\"\n",
            "methodIntegration.contentHandling: `CONVERT` is not CONVERT_TO_BINARY or CONVERT_TO_TEXT",
        ),
    ] {
        let err = TestGateway::try_start(manifest).await.err().expect("refused");
        assert!(format!("{err:#}").contains(want), "{err:#}");
    }
}
