//! The router answered in-process, on a real store: what a client sees of
//! routing, keys, bodies and the watch resource, without a socket.

use super::*;
use crate::config::{token_digest, KeyScope};
use serde_json::{json, Value};

const READ_TOKEN: &str = "read-token";
const WRITE_TOKEN: &str = "write-token";
const ADDRESS: &str = "0xdAC17F958D2ee523a2206206994597C13D831ec7";

struct Api {
    router: Router,
    _dir: tempfile::TempDir,
}

fn api(keys: bool) -> Api {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = Arc::new(Store::open(dir.path()).expect("a new store opens"));
    let matcher = Arc::new(Matcher::load("eth", store.clone()).expect("an empty matcher loads"));
    let (rescan, _) = tokio::sync::mpsc::channel(1);
    let chains = BTreeMap::from([(
        "eth".to_string(),
        ApiChain {
            format: AddressFormat::Evm,
            matcher,
            status: Arc::new(ChainStatus::new("eth", "evm", "mainnet", 12, 0)),
            rescan,
        },
    )]);
    let key = |name: &str, token: &str, scope| ApiKey {
        name: name.into(),
        token_sha256: token_digest(token),
        scope,
        merchant: None,
    };
    let state = AppState {
        store,
        chains,
        keys: if keys {
            vec![
                key("reader", READ_TOKEN, KeyScope::Read),
                key("writer", WRITE_TOKEN, KeyScope::Write),
            ]
        } else {
            Vec::new()
        },
        open_reads: false,
        metrics: None,
        delivery: Arc::default(),
        invoices: BTreeMap::new(),
        epusdt: None,
        merchants: Vec::new(),
        stop: tokio::sync::watch::channel(false).1,
        checkout: None,
        rates: Arc::new(crate::invoice::rates::Rates::new(&[])),
        sanctions: crate::risk::Sanctions::none(),
    };
    Api {
        router: router(Arc::new(state)),
        _dir: dir,
    }
}

impl Api {
    async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        content_type: &str,
        body: &[u8],
    ) -> (StatusCode, Value) {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::CONTENT_TYPE, content_type);
        if let Some(t) = token {
            req = req.header(hyper::header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let req = req
            .body(Full::new(Bytes::copy_from_slice(body)))
            .expect("a valid request");
        let resp = self.router.call(req).await;
        let status = resp.status();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .expect("a full body")
            .to_bytes();
        let v = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, v)
    }

    async fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        self.send(Method::GET, path, token, "application/json", b"")
            .await
    }

    async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        let body = serde_json::to_vec(&body).expect("JSON serializes");
        self.send(Method::POST, path, token, "application/json", &body)
            .await
    }
}

fn code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or("")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn keys_gate_reads_and_writes_but_not_health() {
    let api = api(true);
    assert_eq!(api.get("/health", None).await.0, StatusCode::OK);
    let (s, v) = api.get("/v1/status", None).await;
    assert_eq!((s, code(&v)), (StatusCode::UNAUTHORIZED, "unauthorized"));
    let (s, v) = api.get("/v1/status", Some("not-a-key")).await;
    assert_eq!((s, code(&v)), (StatusCode::UNAUTHORIZED, "unauthorized"));
    let (s, v) = api.get("/v1/status", Some(READ_TOKEN)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["chains"][0]["chain"], "eth");

    let watch = json!({"chain": "eth", "address": ADDRESS});
    let (s, v) = api
        .post("/v1/watches", Some(READ_TOKEN), watch.clone())
        .await;
    assert_eq!((s, code(&v)), (StatusCode::FORBIDDEN, "forbidden"));
    assert!(v["error"]["message"].as_str().unwrap().contains("reader"));
    let (s, _) = api.post("/v1/watches", Some(WRITE_TOKEN), watch).await;
    assert_eq!(s, StatusCode::CREATED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn unknown_paths_are_404_and_wrong_methods_405() {
    let api = api(false);
    let (s, v) = api.get("/v1/nothing-here", None).await;
    assert_eq!((s, code(&v)), (StatusCode::NOT_FOUND, "not_found"));
    let (s, v) = api
        .send(
            Method::DELETE,
            "/v1/invoices",
            None,
            "application/json",
            b"",
        )
        .await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
    );
    let (s, v) = api.get("/v1/watches/btc/1abc", None).await;
    assert_eq!((s, code(&v)), (StatusCode::NOT_FOUND, "unknown_chain"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_watch_is_added_read_back_and_deleted() {
    let api = api(false);
    let watch = json!({"chain": "eth", "address": ADDRESS.to_lowercase(), "label": "order 42"});
    let (s, v) = api.post("/v1/watches", None, watch.clone()).await;
    assert_eq!(s, StatusCode::CREATED);
    // Stored and shown in its checksummed form, whatever case was sent.
    assert_eq!(v["address"], ADDRESS);
    // The same watch again is not an error; another label is.
    assert_eq!(api.post("/v1/watches", None, watch).await.0, StatusCode::OK);
    let (s, v) = api
        .post(
            "/v1/watches",
            None,
            json!({"chain": "eth", "address": ADDRESS, "label": "order 43"}),
        )
        .await;
    assert_eq!((s, code(&v)), (StatusCode::CONFLICT, "watch_exists"));
    assert_eq!(v["error"]["details"]["label"], "order 42");

    let path = format!("/v1/watches/eth/{ADDRESS}");
    let (s, v) = api.get(&path, None).await;
    assert_eq!((s, &v["label"]), (StatusCode::OK, &json!("order 42")));
    let (s, v) = api
        .send(Method::DELETE, &path, None, "application/json", b"")
        .await;
    assert_eq!((s, &v["deleted"]), (StatusCode::OK, &json!(true)));
    assert_eq!(api.get(&path, None).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn bad_bodies_are_named() {
    let api = api(false);
    let (s, v) = api
        .send(Method::POST, "/v1/watches", None, "text/plain", b"{}")
        .await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
    );
    let big = vec![b' '; http::MAX_BODY + 1];
    let (s, v) = api
        .send(Method::POST, "/v1/watches", None, "application/json", &big)
        .await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
    );
    let (s, v) = api
        .send(Method::POST, "/v1/watches", None, "application/json", b"{")
        .await;
    assert_eq!((s, code(&v)), (StatusCode::BAD_REQUEST, "invalid_json"));
    let (s, v) = api
        .post(
            "/v1/watches",
            None,
            json!({"chain": "eth", "address": "0x12"}),
        )
        .await;
    assert_eq!((s, code(&v)), (StatusCode::BAD_REQUEST, "invalid_address"));
    let (s, v) = api
        .post(
            "/v1/watches",
            None,
            json!({"chain": "eth", "address": ADDRESS, "colour": "red"}),
        )
        .await;
    assert_eq!((s, code(&v)), (StatusCode::BAD_REQUEST, "invalid_request"));
    assert!(v["error"]["message"].as_str().unwrap().contains("colour"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_bad_batch_stores_nothing_and_names_its_items() {
    let api = api(false);
    let body = format!(
        "{{\"chain\":\"eth\",\"address\":\"{ADDRESS}\"}}\n\n{{\"chain\":\"eth\",\"address\":\"nope\"}}\n"
    );
    let (s, v) = api
        .send(
            Method::POST,
            "/v1/watches:batch",
            None,
            "application/x-ndjson",
            body.as_bytes(),
        )
        .await;
    assert_eq!((s, code(&v)), (StatusCode::BAD_REQUEST, "invalid_batch"));
    assert_eq!(v["error"]["details"][0]["item"], 3);
    let path = format!("/v1/watches/eth/{ADDRESS}");
    assert_eq!(api.get(&path, None).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn query_parameters_out_of_range_are_named() {
    let api = api(false);
    let (s, v) = api.get("/v1/events?limit=0", None).await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::BAD_REQUEST, "invalid_parameter")
    );
    assert!(v["error"]["message"].as_str().unwrap().contains("`limit`"));
    let (s, v) = api.get("/v1/transfers?chain=eth", None).await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::BAD_REQUEST, "missing_parameter")
    );
    let (s, v) = api.get("/v1/deliveries?status=lost", None).await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::BAD_REQUEST, "invalid_parameter")
    );
    let (s, v) = api.get("/v1/events", None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v, json!({"events": [], "next_after": 0}));
}
