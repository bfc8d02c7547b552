//! testdata-http: an HTTP proxy for the agent's tests.
//!
//! - `/alloc?mb=N`: allocates N MiB in this request's instance (memory limits).
//! - `/spin`: loops forever (stop, CPU).
//! - `/slow?ms=N`: answers after N milliseconds (graceful stop).
//! - `/ready`: 503 while the file `/probe/fail` exists (a hostPath volume the test controls),
//!   else `ok` (probes failing and recovering).
//! - anything else: `ok`.

use std::hint::black_box;

use wstd::http::{Body, Error, Request, Response, StatusCode};
use wstd::time::Duration;

#[wstd::http_server]
async fn main(request: Request<Body>) -> Result<Response<Body>, Error> {
    let query = request.uri().query().unwrap_or("");
    let number = |name: &str| -> u64 {
        query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .find(|(key, _)| *key == name)
            .and_then(|(_, value)| value.parse().ok())
            .unwrap_or(0)
    };
    let body = match request.uri().path() {
        "/alloc" => {
            let mb = number("mb");
            let blocks: Vec<Vec<u8>> = (0..mb).map(|_| vec![1u8; 1 << 20]).collect();
            format!("allocated {} MiB\n", black_box(blocks).len())
        }
        "/spin" => {
            let mut x: u64 = 1;
            loop {
                x = black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
            }
        }
        "/slow" => {
            wstd::task::sleep(Duration::from_millis(number("ms"))).await;
            "done\n".to_owned()
        }
        "/ready" if std::fs::metadata("/probe/fail").is_ok() => {
            return Ok(Response::builder()
                .status(StatusCode::SERVICE_UNAVAILABLE)
                .body("failing\n".into())?);
        }
        _ => "ok\n".to_owned(),
    };
    Ok(Response::new(body.into()))
}
