//! hello-http: a `wasi:http/proxy` service. `GET /` answers with the greeting from the
//! `GREETING` configuration value (a ConfigMap key, through `wasi:config/store`); `/healthz`
//! answers `ok` for probes.

use wstd::http::{Body, Error, Request, Response, StatusCode};

#[wstd::http_server]
async fn main(request: Request<Body>) -> Result<Response<Body>, Error> {
    let response = match request.uri().path() {
        "/" => {
            let greeting =
                edgeplane_guest::config_value("GREETING").unwrap_or_else(|| "Hello".to_owned());
            Response::new(format!("{greeting} from Edgeplane!\n").into())
        }
        "/healthz" => Response::new("ok\n".into()),
        _ => Response::builder()
            .status(StatusCode::NOT_FOUND)
            .body("not found\n".into())?,
    };
    Ok(response)
}
