//! kv-counter: an HTTP service that counts its requests in `wasi:keyvalue`. The count lives in
//! the pod's durable store on the node, so it carries on across restarts of the container.

use edgeplane_guest::{atomics, default_bucket};
use wstd::http::{Body, Error, Request, Response, StatusCode};

/// The key of the counter in the pod's default bucket.
const COUNTER: &str = "requests";

#[wstd::http_server]
async fn main(request: Request<Body>) -> Result<Response<Body>, Error> {
    if request.uri().path() == "/healthz" {
        return Ok(Response::new("ok\n".into()));
    }
    let count = default_bucket().and_then(|bucket| atomics::increment(&bucket, COUNTER, 1));
    match count {
        Ok(count) => Ok(Response::new(format!("{count}\n").into())),
        Err(e) => {
            eprintln!("kv-counter: cannot count: {e:?}");
            Ok(Response::builder()
                .status(StatusCode::SERVICE_UNAVAILABLE)
                .body("storage unavailable\n".into())?)
        }
    }
}
