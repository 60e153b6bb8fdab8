//! The backend of the load runs: answers every request with a fixed body, on one thread.
//!
//! `bench-backend ADDR`: `GET /...` answers 13 bytes; a path containing `16k` answers 16 KiB.
//! Request bodies are read and dropped. Keep-alive, HTTP/1.1.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:18080".into());
    tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&addr).await?;
        let small = Bytes::from_static(b"hello, world\n");
        let large = Bytes::from(vec![b'x'; 16 * 1024]);
        loop {
            let (stream, _) = listener.accept().await?;
            let _ = stream.set_nodelay(true);
            let (small, large) = (small.clone(), large.clone());
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let body = if req.uri().path().contains("16k") { large.clone() } else { small.clone() };
                    async move {
                        let _ = req.into_body().collect().await;
                        let mut resp = Response::new(Full::new(body));
                        resp.headers_mut().insert("content-type", "text/plain".parse().unwrap());
                        Ok::<_, Infallible>(resp)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
            });
        }
    })
}
