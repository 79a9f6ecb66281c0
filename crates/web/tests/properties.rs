//! Properties of the web layer's parsers of untrusted input, over generated
//! inputs: they never panic, and what they return keeps its promises — a mapped
//! path never leaves the root, ranges stay inside the file, weights stay in
//! range, decoding undoes encoding, and every registered route is reachable.

use osprey_web::coding::parse_accept_encoding;
use osprey_web::percent::{decode, encode_segment};
use osprey_web::static_files::range::{parse_range, RangeRequest};
use osprey_web::static_files::resolve::map_path;
use osprey_web::{Handler, Method, Request, Response, Router, Status};
use proptest::prelude::*;

/// Path-ish strings: the characters traversal attempts are made of.
fn pathish() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just("/".to_string()),
            Just(".".to_string()),
            Just("..".to_string()),
            Just("%".to_string()),
            Just("\\".to_string()),
            Just("\0".to_string()),
            "[a-z]{1,3}".prop_map(|s| s),
            Just("é".to_string()),
        ],
        0..24,
    )
    .prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn mapped_paths_never_leave_the_root(path in pathish(), hidden in any::<bool>()) {
        if let Ok(mapped) = map_path(&path, hidden) {
            let rel = &*mapped.relative;
            prop_assert!(!rel.starts_with('/'), "{path:?} -> {rel:?}");
            if !rel.is_empty() {
                for seg in rel.split('/') {
                    prop_assert!(!seg.is_empty() && seg != "." && seg != "..", "{path:?} -> {rel:?}");
                    prop_assert!(hidden || !seg.starts_with('.'), "{path:?} -> {rel:?}");
                    prop_assert!(!seg.contains('\\') && !seg.contains('\0'), "{path:?} -> {rel:?}");
                }
            }
        }
    }

    #[test]
    fn ranges_stay_inside_the_file(field in "[a-zA-Z]{0,6}=?[-0-9, ]{0,40}", len in 0u64..10_000) {
        match parse_range(&field, len, 16) {
            RangeRequest::Partial(ranges) => {
                prop_assert!(!ranges.is_empty() && ranges.len() <= 16);
                for w in ranges.windows(2) {
                    prop_assert!(w[0].end + 1 < w[1].start, "sorted, disjoint, not adjacent: {ranges:?}");
                }
                for r in &ranges {
                    prop_assert!(r.start <= r.end && r.end < len, "{field:?} len {len}: {r:?}");
                }
            }
            RangeRequest::Unsatisfiable => prop_assert!(field.contains('=')),
            RangeRequest::Full => {}
        }
    }

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
        let status = app.call(&mut Request::new(Method::Get, &target)).status;
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
            let resp = app.call(&mut Request::new(Method::Get, p));
            prop_assert_eq!(resp.status, Status::OK);
            prop_assert_eq!(resp.body.len_hint(), Some(p.len() as u64));
        }
    }
}
