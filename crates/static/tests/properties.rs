//! Properties of the static-file server's parsers of untrusted input, over
//! generated inputs: they never panic, and what they return keeps its promises
//! — a mapped path never leaves the root, ranges stay inside the file.

use osprey_static::range::{parse_range, RangeRequest};
use osprey_static::resolve::map_path;
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
}
