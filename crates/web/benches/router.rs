//! Routing and middleware cost, per request.
//!
//! - `match_100/*`: dispatch through a router of 100 routes shaped like a real
//!   REST API (literals, parameters, catch-alls, several methods per path),
//!   for a literal path, a path with two parameters, a catch-all, a 405 and a
//!   404. The handler does nothing, so the figure is the router's: matching,
//!   parameter capture and the call.
//! - `middleware/*`: the same trivial handler called directly, behind a chain of
//!   5 pass-through middleware that each read a header and add one, and behind
//!   a router with those 5 as app-level middleware.
//!
//! `cargo bench -p osprey-web --bench router`

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use osprey_web::{Chain, Handler, Method, Next, Reply, Request, Response, Router, Status};

fn nothing(_: &mut Request) -> Response {
    Response::new(Status::NO_CONTENT)
}

/// 100 routes: 20 resources × (list, create, get, update, delete) on
/// `/api/v1/<resource>` and `/api/v1/<resource>/:id`, with nested
/// `/:id/<sub>/:sub_id` and a catch-all per resource mixed in.
fn hundred_routes() -> Router {
    let resources = [
        "users",
        "repos",
        "orgs",
        "teams",
        "issues",
        "pulls",
        "comments",
        "labels",
        "milestones",
        "releases",
        "assets",
        "hooks",
        "keys",
        "gists",
        "stars",
        "events",
        "feeds",
        "notifications",
        "projects",
        "search",
    ];
    let mut router = Router::new();
    let mut count = 0;
    for (i, r) in resources.iter().enumerate() {
        let base = format!("/api/v1/{r}");
        let item = format!("{base}/:id");
        router = router
            .get(&base, nothing)
            .post(&base, nothing)
            .get(&item, nothing);
        count += 3;
        // Two more per resource, alternating shapes.
        router = match i % 3 {
            0 => router.put(&item, nothing).delete(&item, nothing),
            1 => router
                .get(&format!("{item}/members/:member"), nothing)
                .delete(&format!("{item}/members/:member"), nothing),
            _ => router
                .patch(&item, nothing)
                .get(&format!("{base}/files/*path"), nothing),
        };
        count += 2;
    }
    assert_eq!(count, 100);
    router
}

fn bench_match(c: &mut Criterion) {
    let router = hundred_routes();
    let mut group = c.benchmark_group("match_100");
    group.throughput(Throughput::Elements(1));
    let cases = [
        ("literal", Method::Get, "/api/v1/notifications"),
        ("two_params", Method::Get, "/api/v1/repos/42/members/alice"),
        ("catch_all", Method::Get, "/api/v1/orgs/files/a/b/c.txt"),
        ("method_not_allowed", Method::Delete, "/api/v1/search"),
        ("not_found", Method::Get, "/api/v2/users"),
    ];
    for (name, method, path) in cases {
        let mut req = Request::new(method, path);
        // Sanity: the intended branch.
        let status = router.respond(&mut req).status;
        let expect = match name {
            "method_not_allowed" => Status::METHOD_NOT_ALLOWED,
            "not_found" => Status::NOT_FOUND,
            _ => Status::NO_CONTENT,
        };
        assert_eq!(status, expect, "{name}");
        group.bench_function(name, |b| {
            b.iter(|| black_box(router.call(black_box(&mut req))))
        });
    }
    group.finish();
}

/// Reads a request header and tags the response: the least a real
/// middleware does.
fn pass_through(req: &mut Request, next: Next<'_>) -> Reply {
    let seen = req.header("x-trace").is_some();
    let resp = next.run(req);
    if seen {
        resp.header("X-Traced", "1")
    } else {
        resp
    }
}

fn bench_middleware(c: &mut Criterion) {
    let mut group = c.benchmark_group("middleware");
    group.throughput(Throughput::Elements(1));
    let mut req = Request::new(Method::Get, "/");
    group.bench_function("none", |b| {
        let h = nothing;
        b.iter(|| black_box(Handler::call(&h, black_box(&mut req))))
    });
    let mut chain = Chain::new(nothing);
    for _ in 0..5 {
        chain = chain.with(pass_through);
    }
    group.bench_function("chain_of_5", |b| {
        b.iter(|| black_box(chain.call(black_box(&mut req))))
    });
    let mut router = Router::new().get("/", nothing);
    for _ in 0..5 {
        router = router.with(pass_through);
    }
    group.bench_function("router_with_5", |b| {
        b.iter(|| black_box(router.call(black_box(&mut req))))
    });
    group.finish();
}

criterion_group!(benches, bench_match, bench_middleware);
criterion_main!(benches);
