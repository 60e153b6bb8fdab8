//! The body type the gateway speaks, and the pooled keep-alive client used by HTTP_PROXY
//! integrations and by plugins' outbound requests.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use http_body_util::combinators::BoxBody;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

/// Errors carried by bodies.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Every request and response body in the gateway.
pub type GatewayBody = BoxBody<Bytes, BoxError>;

/// The pooled HTTP/1.1 client.
pub type HttpClient = Client<HttpConnector, GatewayBody>;

/// Builds the client: keep-alive pool, no Nagle delay.
pub fn new_client() -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(Duration::from_secs(10)));
    connector.enforce_http(true);
    Client::builder(TokioExecutor::new())
        .timer(TokioTimer::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(1024)
        .build(connector)
}

/// A body of known bytes.
pub fn full_body(bytes: impl Into<Bytes>) -> GatewayBody {
    http_body_util::Full::new(bytes.into()).map_err(|never| match never {}).boxed()
}
