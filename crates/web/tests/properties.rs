//! Properties of the web layer's parsers of untrusted input, over generated
//! inputs: they never panic, and what they return keeps its promises — weights
//! stay in range, decoding undoes encoding, and every registered route is
//! reachable. (The static-file server's are in crates/static/tests.)

use osprey_web::coding::parse_accept_encoding;
use osprey_web::percent::{decode, encode_segment};
use osprey_web::{Handler, Method, Request, Response, Router, Status};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn accept_encoding_weights_are_qvalues(field in "[a-z*;=., 0-9qQ]{0,60}") {
        let ae = parse_accept_encoding([field.as_str()]);
        for q in ae.codings.iter().chain([&ae.identity]).flatten() {
            prop_assert!(*q <= 1000);
        }
    }

    #[test]
    fn decoding_undoes_segment_encoding(text in "[^\0]{0,40}") {
        let encoded = encode_segment(&text);
        prop_assert!(!encoded.contains('/'));
        prop_assert_eq!(decode(&encoded, false).unwrap(), text.as_str());
    }

    #[test]
    fn any_target_gets_an_answer_and_never_a_panic(target in "/[ -~]{0,40}") {
        let app = Router::new()
            .get("/a/:x", |_: &mut Request| Response::text("x"))
            .get("/a/b/*rest", |_: &mut Request| Response::text("rest"))
            .post("/c", |_: &mut Request| Response::text("c"));
        let status = app.respond(&mut Request::new(Method::Get, &target)).status;
        prop_assert!(
            [Status::OK, Status::NOT_FOUND, Status::METHOD_NOT_ALLOWED, Status::BAD_REQUEST,
             Status::MOVED_PERMANENTLY].contains(&status),
            "{target:?}: {status:?}"
        );
    }

    #[test]
    fn every_registered_route_is_reachable(
        paths in proptest::collection::btree_set("(/[a-z]{1,4}){1,4}", 1..20)
    ) {
        let mut app = Router::new();
        for p in &paths {
            let name = p.clone();
            app = app.get(p, move |_: &mut Request| Response::text(name.clone()));
        }
        for p in &paths {
            let resp = app.respond(&mut Request::new(Method::Get, p));
            prop_assert_eq!(resp.status, Status::OK);
            prop_assert_eq!(resp.body.len_hint(), Some(p.len() as u64));
        }
    }
}
