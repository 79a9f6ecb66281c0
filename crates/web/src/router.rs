//! The router: a tree of path segments, matched by precedence, with methods,
//! parameters, nesting, middleware and the answers RFC 9110 expects for free.
//!
//! Patterns are `/`-separated segments. A segment is a literal (`users`), a
//! parameter (`:id`, one non-empty segment) or, last, a catch-all (`*path`,
//! the rest of the path, possibly empty). Matching goes segment by segment and
//! prefers literal over parameter over catch-all whatever the registration
//! order, backtracking when a more specific branch fails further down — so
//! `/users/new` beats `/users/:id`, and `/users/new/edit` still reaches
//! `/users/:id/edit`. Two routes that match exactly the same requests (the same
//! shape and method, whatever their parameter names) are refused at
//! registration with an error naming both.
//!
//! What a request gets when no route answers it:
//! - a path no route matches: 404 (or the fallback handler);
//! - a path that matches with another method: 405 with `Allow` (RFC 9110
//!   §15.5.6), and OPTIONS gets 204 with `Allow` (§9.3.7);
//! - HEAD is answered by the GET route (the server sends no body, §9.3.2);
//! - a path that would match with or without a trailing slash: a redirect to
//!   that path (301 for GET and HEAD, 308 otherwise, so the method and body
//!   survive), unless the policy is [`TrailingSlash::Strict`];
//! - a path whose percent-encoding is invalid: 400.

use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, OnceLock};

use smallvec::SmallVec;

use crate::handler::{Chain, Handler, Middleware, Plan};
use crate::percent;
use crate::{Method, Reply, Request, Response, Status};
use osprey_proto::{HeaderName, HeaderValue};

/// What to do with a path that matches only with its trailing slash added or
/// removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TrailingSlash {
    /// Redirect to the matching spelling (the default): `/docs` → `/docs/`.
    #[default]
    Redirect,
    /// Treat the two spellings as different paths: 404.
    Strict,
}

/// A route that cannot be registered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RouteError {
    /// The pattern is malformed.
    InvalidPattern {
        /// The pattern as given.
        pattern: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Another route already answers exactly the same requests.
    Conflict {
        /// The route being added, as `METHOD /pattern`.
        new: String,
        /// The route registered earlier.
        existing: String,
    },
}

impl fmt::Display for RouteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RouteError::InvalidPattern { pattern, reason } => {
                write!(f, "invalid route pattern `{pattern}`: {reason}")
            }
            RouteError::Conflict { new, existing } => {
                write!(
                    f,
                    "route conflict: `{new}` matches the same requests as `{existing}`"
                )
            }
        }
    }
}

impl std::error::Error for RouteError {}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Seg {
    Literal(Box<str>),
    Param(Box<str>),
    CatchAll(Box<str>),
}

fn parse_pattern(pattern: &str) -> Result<Vec<Seg>, RouteError> {
    let invalid = |reason| RouteError::InvalidPattern {
        pattern: pattern.to_string(),
        reason,
    };
    let rest = pattern
        .strip_prefix('/')
        .ok_or_else(|| invalid("a pattern starts with `/`"))?;
    let raw: Vec<&str> = rest.split('/').collect();
    let mut segs = Vec::with_capacity(raw.len());
    let mut names: Vec<&str> = Vec::new();
    for (i, s) in raw.iter().enumerate() {
        let seg = if let Some(name) = s.strip_prefix(':') {
            Seg::Param(name.into())
        } else if let Some(name) = s.strip_prefix('*') {
            if i + 1 != raw.len() {
                return Err(invalid("a catch-all `*name` must be the last segment"));
            }
            Seg::CatchAll(name.into())
        } else {
            Seg::Literal((*s).into())
        };
        if let Seg::Param(name) | Seg::CatchAll(name) = &seg {
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return Err(invalid("a parameter name is letters, digits and `_`"));
            }
            if names.contains(&&**name) {
                return Err(invalid("a parameter name is used twice"));
            }
            names.push(&s[1..]);
        }
        segs.push(seg);
    }
    Ok(segs)
}

fn param_names(segs: &[Seg]) -> Arc<[Box<str>]> {
    segs.iter()
        .filter_map(|s| match s {
            Seg::Param(n) | Seg::CatchAll(n) => Some(n.clone()),
            Seg::Literal(_) => None,
        })
        .collect()
}

/// One registered route, kept so that a router can be nested in another.
#[derive(Clone)]
struct RouteDef {
    /// `None` answers every method.
    method: Option<Method>,
    pattern: Arc<str>,
    chain: Chain,
    /// Middleware of the routers this route came from, for the answers the
    /// router makes itself on its paths (405, OPTIONS).
    scope: Vec<Arc<dyn Middleware>>,
}

impl RouteDef {
    fn describe(&self) -> String {
        let method = self.method.as_ref().map_or("ANY", |m| m.as_str());
        format!("{method} {}", self.pattern)
    }
}

#[derive(Clone)]
struct Route {
    names: Arc<[Box<str>]>,
    def: RouteDef,
    /// Its index in the table's `chains`, for a match carried from the plan
    /// to the call.
    id: u32,
}

/// The routes ending at one tree position.
#[derive(Clone)]
struct Endpoint {
    routes: Vec<Route>,
    scope: Vec<Arc<dyn Middleware>>,
}

impl Endpoint {
    /// The route answering `method`: an exact match, then GET for HEAD, then
    /// a route for any method.
    fn route_for(&self, method: &Method) -> Option<&Route> {
        let exact = |m: &Method| {
            self.routes
                .iter()
                .find(|r| r.def.method.as_ref() == Some(m))
        };
        exact(method)
            .or_else(|| {
                (*method == Method::Head)
                    .then(|| exact(&Method::Get))
                    .flatten()
            })
            .or_else(|| self.routes.iter().find(|r| r.def.method.is_none()))
    }
}

#[derive(Clone, Default)]
struct Node {
    /// Sorted by segment, for binary search.
    literals: Vec<(Box<str>, Node)>,
    param: Option<Box<Node>>,
    catch_all: Option<Box<Endpoint>>,
    endpoint: Option<Box<Endpoint>>,
}

/// A captured parameter: the segment index, or for a catch-all the index the
/// rest starts at.
type Captures = SmallVec<[usize; 8]>;

/// Parameter values as byte ranges of the raw path.
type Spans = SmallVec<[(usize, usize); 8]>;

/// Raw path segments as byte ranges of the path.
type Segments = SmallVec<[(usize, usize); 16]>;

fn split_path(path: &str) -> Option<Segments> {
    let bytes = path.as_bytes();
    if bytes.first() != Some(&b'/') {
        return None;
    }
    // A byte loop: `str::split` goes through the generic char searcher,
    // which showed up as a third of a match's cost.
    let mut segs = Segments::new();
    let mut start = 1;
    for (i, &b) in bytes.iter().enumerate().skip(1) {
        if b == b'/' {
            segs.push((start, i));
            start = i + 1;
        }
    }
    segs.push((start, bytes.len()));
    Some(segs)
}

/// The decoded form of a raw segment (the path was validated when filled).
fn decoded(raw: &str) -> Cow<'_, str> {
    if raw.as_bytes().contains(&b'%') {
        percent::decode(raw, false).unwrap_or(Cow::Borrowed(""))
    } else {
        Cow::Borrowed(raw)
    }
}

impl Node {
    fn insert(
        &mut self,
        segs: &[Seg],
        route: Route,
        scope: &[Arc<dyn Middleware>],
    ) -> Result<(), RouteError> {
        let slot = match segs.first() {
            None => &mut self.endpoint,
            Some(Seg::CatchAll(_)) => &mut self.catch_all,
            Some(Seg::Literal(lit)) => {
                let i = match self.literals.binary_search_by(|(k, _)| (**k).cmp(lit)) {
                    Ok(i) => i,
                    Err(i) => {
                        self.literals.insert(i, (lit.clone(), Node::default()));
                        i
                    }
                };
                return self.literals[i].1.insert(&segs[1..], route, scope);
            }
            Some(Seg::Param(_)) => {
                return self.param.get_or_insert_with(Default::default).insert(
                    &segs[1..],
                    route,
                    scope,
                )
            }
        };
        let endpoint = slot.get_or_insert_with(|| {
            Box::new(Endpoint {
                routes: Vec::new(),
                scope: scope.to_vec(),
            })
        });
        if let Some(existing) = endpoint
            .routes
            .iter()
            .find(|r| r.def.method == route.def.method)
        {
            return Err(RouteError::Conflict {
                new: route.def.describe(),
                existing: existing.def.describe(),
            });
        }
        endpoint.routes.push(route);
        Ok(())
    }

    /// Visits the endpoints matching `segs[i..]` in precedence order until
    /// `visit` returns true. `catch` is where a catch-all's rest begins.
    fn walk<'a>(
        &'a self,
        path: &str,
        segs: &[(usize, usize)],
        i: usize,
        caps: &mut Captures,
        visit: &mut dyn FnMut(&'a Endpoint, &Captures, Option<usize>) -> bool,
    ) -> bool {
        let Some(&(s, e)) = segs.get(i) else {
            return self
                .endpoint
                .as_deref()
                .is_some_and(|ep| visit(ep, caps, None));
        };
        let raw = &path[s..e];
        if !self.literals.is_empty() {
            let key = decoded(raw);
            if let Ok(j) = self.literals.binary_search_by(|(k, _)| (**k).cmp(&*key)) {
                if self.literals[j].1.walk(path, segs, i + 1, caps, visit) {
                    return true;
                }
            }
        }
        if let Some(param) = &self.param {
            if !raw.is_empty() {
                caps.push(i);
                if param.walk(path, segs, i + 1, caps, visit) {
                    return true;
                }
                caps.pop();
            }
        }
        self.catch_all
            .as_deref()
            .is_some_and(|ep| visit(ep, caps, Some(i)))
    }
}

/// The tree and what the router answers on its own.
#[derive(Clone, Default)]
struct Table {
    root: Node,
    /// Handlers for unmatched paths under a prefix (a nested router's
    /// fallback), longest prefix first; the app's own fallback has prefix `[]`.
    fallbacks: Vec<(Vec<Seg>, Chain)>,
    trailing_slash: TrailingSlash,
    /// Every method some route answers, for `OPTIONS *`.
    methods: Vec<Method>,
    any_method: bool,
    /// Every route's chain by id.
    chains: Vec<Chain>,
}

/// A match found by `plan` and kept in the request for the call: the table's
/// identity and the route's id (fallbacks count from `FALLBACK_IDS`), so a
/// request with a body is matched once, not twice.
const FALLBACK_IDS: u32 = 1 << 31;

/// Where a request goes.
enum Target<'a> {
    /// The route, and its parameters as byte ranges of the raw path.
    Route(&'a Route, Spans),
    /// The path exists, but not for this method.
    Method(&'a Endpoint),
    Redirect(String),
    /// The fallback with this index.
    Fallback(usize),
    NotFound,
    BadPath,
    OptionsStar,
}

/// Canonical order of methods in `Allow`.
fn method_rank(m: &Method) -> usize {
    match m {
        Method::Get => 0,
        Method::Head => 1,
        Method::Post => 2,
        Method::Put => 3,
        Method::Patch => 4,
        Method::Delete => 5,
        Method::Options => 6,
        Method::Trace => 7,
        Method::Connect => 8,
        Method::Extension(_) => 9,
    }
}

fn allow_value(mut methods: Vec<Method>) -> HeaderValue {
    if methods.contains(&Method::Get) && !methods.contains(&Method::Head) {
        methods.push(Method::Head);
    }
    if !methods.contains(&Method::Options) {
        methods.push(Method::Options);
    }
    methods.sort_by(|a, b| {
        method_rank(a)
            .cmp(&method_rank(b))
            .then(a.as_str().cmp(b.as_str()))
    });
    methods.dedup();
    let list: Vec<&str> = methods.iter().map(Method::as_str).collect();
    HeaderValue::try_from(list.join(", ")).unwrap_or(HeaderValue::from_static("OPTIONS"))
}

impl Table {
    fn insert(&mut self, def: RouteDef) -> Result<(), RouteError> {
        let segs = parse_pattern(&def.pattern)?;
        let route = Route {
            names: param_names(&segs),
            def: def.clone(),
            id: self.chains.len() as u32,
        };
        self.chains.push(def.chain.clone());
        self.root.insert(&segs, route, &def.scope)?;
        match &def.method {
            Some(m) if !self.methods.contains(m) => self.methods.push(m.clone()),
            Some(_) => {}
            None => self.any_method = true,
        }
        Ok(())
    }

    fn target(&self, req: &Request) -> Target<'_> {
        if !req.path_is_valid() {
            return Target::BadPath;
        }
        let path = req.raw_path();
        if path == "*" {
            return if *req.method() == Method::Options {
                Target::OptionsStar
            } else {
                Target::NotFound
            };
        }
        let Some(segs) = split_path(path) else {
            return Target::NotFound;
        };
        if self.methods.is_empty() && !self.any_method {
            // No routes at all (a static server is one fallback): nothing
            // to walk, nothing to redirect to.
            return self
                .fallback(path, &segs)
                .map_or(Target::NotFound, Target::Fallback);
        }
        let method = req.method();
        let mut found = None;
        let mut first_path = None;
        self.root.walk(
            path,
            &segs,
            0,
            &mut Captures::new(),
            &mut |ep, caps, catch| {
                first_path.get_or_insert(ep);
                match ep.route_for(method) {
                    Some(route) => {
                        let mut spans: Spans = caps.iter().map(|&i| segs[i]).collect();
                        if let Some(i) = catch {
                            let start = segs.get(i).map_or(path.len(), |&(s, _)| s);
                            spans.push((start, path.len()));
                        }
                        found = Some(Target::Route(route, spans));
                        true
                    }
                    None => false,
                }
            },
        );
        if let Some(t) = found {
            return t;
        }
        if let Some(ep) = first_path {
            return Target::Method(ep);
        }
        if self.trailing_slash == TrailingSlash::Redirect {
            if let Some(location) = self.slash_redirect(path, req.query()) {
                return Target::Redirect(location);
            }
        }
        self.fallback(path, &segs)
            .map_or(Target::NotFound, Target::Fallback)
    }

    /// The other spelling of `path` (trailing slash added or removed) when a
    /// route matches it, as a redirect location with the query kept.
    fn slash_redirect(&self, path: &str, query: Option<&str>) -> Option<String> {
        let alt = match path.strip_suffix('/') {
            Some("") => return None,
            Some(shorter) => shorter.to_string(),
            None => format!("{path}/"),
        };
        // `//evil.example` would be read as another host by the browser.
        if alt.starts_with("//") || alt.starts_with("/\\") {
            return None;
        }
        let segs = split_path(&alt)?;
        let mut matched = false;
        self.root
            .walk(&alt, &segs, 0, &mut Captures::new(), &mut |_, _, _| {
                matched = true;
                true
            });
        matched.then(|| match query {
            Some(q) => format!("{alt}?{q}"),
            None => alt,
        })
    }

    fn fallback(&self, path: &str, segs: &[(usize, usize)]) -> Option<usize> {
        self.fallbacks.iter().position(|(prefix, _)| {
            let fits = prefix.len() <= segs.len()
                && prefix.iter().zip(segs).all(|(p, &(s, e))| match p {
                    Seg::Literal(lit) => *decoded(&path[s..e]) == **lit,
                    Seg::Param(_) => e > s,
                    Seg::CatchAll(_) => true,
                });
            fits
        })
    }

    /// Every method the routes matching `path` answer.
    fn allowed(&self, path: &str) -> Vec<Method> {
        let mut methods = Vec::new();
        if let Some(segs) = split_path(path) {
            self.root
                .walk(path, &segs, 0, &mut Captures::new(), &mut |ep, _, _| {
                    methods.extend(ep.routes.iter().filter_map(|r| r.def.method.clone()));
                    false
                });
        }
        methods
    }

    /// This table's identity, for matches carried in a request.
    fn id(&self) -> usize {
        self as *const Table as usize
    }

    fn set_params(req: &mut Request, route: &Route, spans: Spans) {
        req.clear_params();
        if !route.names.is_empty() {
            req.set_param_names(route.names.clone());
            req.push_params(spans.into_iter());
        }
    }

    fn dispatch(&self, req: &mut Request) -> Reply {
        // Matched by the plan already (a request with a body): parameters
        // are set, go straight to the route.
        if let Some((table, id)) = req.take_planned() {
            if table == self.id() {
                return match id.checked_sub(FALLBACK_IDS) {
                    None => self.chains[id as usize].call(req),
                    Some(i) => self.fallbacks[i as usize].1.call(req),
                };
            }
        }
        match self.target(req) {
            Target::Route(route, spans) => {
                Table::set_params(req, route, spans);
                route.def.chain.call(req)
            }
            Target::Method(ep) => {
                let answer = AutoAnswer {
                    allow: allow_value(self.allowed(req.raw_path())),
                };
                // Through the middleware of the router owning the path, so a
                // CORS layer there can answer its preflight.
                Chain::from_parts(ep.scope.clone(), Arc::new(answer)).call(req)
            }
            Target::Fallback(i) => self.fallbacks[i].1.call(req),
            other => self.answer(other, req).into(),
        }
    }

    /// The answers the router makes itself.
    fn answer(&self, target: Target<'_>, req: &Request) -> Response {
        match target {
            Target::Redirect(location) => {
                let status = if matches!(req.method(), Method::Get | Method::Head) {
                    Status::MOVED_PERMANENTLY
                } else {
                    Status::PERMANENT_REDIRECT
                };
                Response::redirect(status, &location)
            }
            Target::NotFound | Target::Route(..) | Target::Method(_) | Target::Fallback(_) => {
                Response::status_text(Status::NOT_FOUND)
            }
            Target::BadPath => Response::status_text(Status::BAD_REQUEST),
            Target::OptionsStar => {
                let methods = if self.any_method {
                    [
                        Method::Get,
                        Method::Post,
                        Method::Put,
                        Method::Patch,
                        Method::Delete,
                    ]
                    .to_vec()
                } else {
                    self.methods.clone()
                };
                Response::new(Status::NO_CONTENT).header(HeaderName::ALLOW, allow_value(methods))
            }
        }
    }

    fn plan(&self, req: &mut Request) -> Plan {
        match self.target(req) {
            Target::Route(route, spans) => {
                Table::set_params(req, route, spans);
                req.set_planned(Some((self.id(), route.id)));
                route.def.chain.plan(req)
            }
            Target::Fallback(i) => {
                req.set_planned(Some((self.id(), FALLBACK_IDS + i as u32)));
                self.fallbacks[i].1.plan(req)
            }
            _ => Plan::default(),
        }
    }
}

/// The router's own answer on a path that exists for other methods: 204 to
/// OPTIONS (RFC 9110 §9.3.7), 405 otherwise (§15.5.6), both with `Allow`.
struct AutoAnswer {
    allow: HeaderValue,
}

impl Handler for AutoAnswer {
    fn call(&self, req: &mut Request) -> Reply {
        let answer = if *req.method() == Method::Options {
            Response::new(Status::NO_CONTENT)
        } else {
            Response::status_text(Status::METHOD_NOT_ALLOWED)
        };
        answer.header(HeaderName::ALLOW, self.allow.clone()).into()
    }
}

/// The table as the innermost handler of the app's middleware chain.
struct Dispatch(Table);

impl Handler for Dispatch {
    fn call(&self, req: &mut Request) -> Reply {
        self.0.dispatch(req)
    }

    fn plan(&self, req: &mut Request) -> Plan {
        self.0.plan(req)
    }
}

/// An app: routes, nested routers, middleware and a fallback, itself a
/// [`Handler`] to give to a server.
///
/// ```
/// use osprey_web::{Handler, Json, Method, Request, Response, Router, Status};
///
/// fn user(req: &mut Request) -> Json<serde_json::Value> {
///     Json(serde_json::json!({ "id": req.param("id"), "name": "alice" }))
/// }
///
/// let api = Router::new()
///     .get("/users/:id", user)
///     .get("/files/*path", |req: &mut Request| Response::text(req.param("path").unwrap().to_string()));
/// let app = Router::new()
///     .get("/", |_: &mut Request| Response::text("home"))
///     .nest("/api", api);
///
/// let resp = app.respond(&mut Request::new(Method::Get, "/api/users/42"));
/// assert_eq!(resp.status, Status::OK);
/// let resp = app.respond(&mut Request::new(Method::Delete, "/api/users/42"));
/// assert_eq!(resp.status, Status::METHOD_NOT_ALLOWED);
/// assert_eq!(resp.headers.get("allow").unwrap().as_bytes(), b"GET, HEAD, OPTIONS");
/// ```
#[derive(Default)]
pub struct Router {
    table: Table,
    /// Every route, for nesting this router in another.
    defs: Vec<RouteDef>,
    middleware: Vec<Arc<dyn Middleware>>,
    fallback: Option<Chain>,
    /// Fallbacks of routers nested in this one, as (prefix, handler).
    nested_fallbacks: Vec<(String, Chain)>,
    /// The serving form, built on first use.
    app: OnceLock<Chain>,
}

impl Router {
    /// An empty router: every request gets 404.
    pub fn new() -> Router {
        Router::default()
    }

    /// Adds a route for `method` (or for every method when `None`); fails on
    /// a malformed pattern or a conflict with an earlier route.
    pub fn try_route(
        &mut self,
        method: Option<Method>,
        pattern: &str,
        handler: impl Handler,
    ) -> Result<(), RouteError> {
        self.add(RouteDef {
            method,
            pattern: pattern.into(),
            chain: Chain::new(handler),
            scope: Vec::new(),
        })
    }

    fn add(&mut self, def: RouteDef) -> Result<(), RouteError> {
        self.app = OnceLock::new();
        self.table.insert(def.clone())?;
        self.defs.push(def);
        Ok(())
    }

    /// Adds a route for `method`.
    ///
    /// # Panics
    /// On a malformed pattern or a conflicting route, with both named: a
    /// routing table is code, and a server should not start with a wrong one.
    pub fn route(mut self, method: Method, pattern: &str, handler: impl Handler) -> Router {
        if let Err(e) = self.try_route(Some(method), pattern, handler) {
            panic!("{e}");
        }
        self
    }

    /// A GET route (HEAD is answered from it).
    pub fn get(self, pattern: &str, handler: impl Handler) -> Router {
        self.route(Method::Get, pattern, handler)
    }

    /// A POST route.
    pub fn post(self, pattern: &str, handler: impl Handler) -> Router {
        self.route(Method::Post, pattern, handler)
    }

    /// A PUT route.
    pub fn put(self, pattern: &str, handler: impl Handler) -> Router {
        self.route(Method::Put, pattern, handler)
    }

    /// A PATCH route.
    pub fn patch(self, pattern: &str, handler: impl Handler) -> Router {
        self.route(Method::Patch, pattern, handler)
    }

    /// A DELETE route.
    pub fn delete(self, pattern: &str, handler: impl Handler) -> Router {
        self.route(Method::Delete, pattern, handler)
    }

    /// An OPTIONS route (replacing the automatic answer for that path).
    pub fn options(self, pattern: &str, handler: impl Handler) -> Router {
        self.route(Method::Options, pattern, handler)
    }

    /// A route for every method (a more specific method route on the same
    /// path wins).
    pub fn any(mut self, pattern: &str, handler: impl Handler) -> Router {
        if let Err(e) = self.try_route(None, pattern, handler) {
            panic!("{e}");
        }
        self
    }

    /// A WebSocket endpoint at `pattern` (a GET route): each connection gets
    /// the handler `make` builds from its upgrade request; a request that is
    /// not a valid handshake gets 400 or 426 (see
    /// [`crate::websocket::endpoint`], whose settings and subprotocols a
    /// `get` route can set).
    pub fn ws<F, H>(self, pattern: &str, make: F) -> Router
    where
        F: Fn(&mut Request) -> H + Send + Sync + 'static,
        H: crate::websocket::WsHandler,
    {
        self.get(pattern, crate::websocket::endpoint(make))
    }

    /// Mounts `child`'s routes under `prefix` (`/api` + `/users` →
    /// `/api/users`; the child's `/` becomes `/api`). The child's middleware
    /// wraps its routes and the router's own answers on its paths; its
    /// fallback answers unmatched paths under the prefix.
    ///
    /// # Panics
    /// On a malformed prefix or a conflict with a route already here.
    pub fn nest(mut self, prefix: &str, child: Router) -> Router {
        if let Err(e) = self.try_nest(prefix, child) {
            panic!("{e}");
        }
        self
    }

    /// [`Router::nest`], returning the error instead of panicking.
    pub fn try_nest(&mut self, prefix: &str, child: Router) -> Result<(), RouteError> {
        let prefix = prefix.strip_suffix('/').unwrap_or(prefix);
        if !prefix.is_empty() {
            let segs = parse_pattern(prefix)?;
            if segs.iter().any(|s| matches!(s, Seg::CatchAll(_))) {
                return Err(RouteError::InvalidPattern {
                    pattern: prefix.to_string(),
                    reason: "a nesting prefix cannot hold a catch-all",
                });
            }
        }
        let join = |pattern: &str| {
            if pattern == "/" && !prefix.is_empty() {
                prefix.to_string()
            } else {
                format!("{prefix}{pattern}")
            }
        };
        for def in child.defs {
            let mut scope = child.middleware.clone();
            scope.extend(def.scope.iter().cloned());
            self.add(RouteDef {
                method: def.method,
                pattern: join(&def.pattern).into(),
                chain: def.chain.within(&child.middleware),
                scope,
            })?;
        }
        let mut fallbacks = child.nested_fallbacks;
        if let Some(f) = child.fallback {
            fallbacks.push((String::new(), f));
        }
        for (p, chain) in fallbacks {
            let full = format!("{prefix}{p}");
            self.nested_fallbacks
                .push((full, chain.within(&child.middleware)));
        }
        self.rebuild_fallbacks();
        Ok(())
    }

    /// The handler for requests no route matches (default: 404).
    pub fn fallback(mut self, handler: impl Handler) -> Router {
        self.fallback = Some(Chain::new(handler));
        self.rebuild_fallbacks();
        self
    }

    fn rebuild_fallbacks(&mut self) {
        self.app = OnceLock::new();
        let mut all: Vec<(Vec<Seg>, Chain)> = self
            .nested_fallbacks
            .iter()
            .filter_map(|(p, c)| Some((parse_pattern(p).ok()?, c.clone())))
            .collect();
        if let Some(f) = &self.fallback {
            all.push((Vec::new(), f.clone()));
        }
        all.sort_by_key(|(segs, _)| std::cmp::Reverse(segs.len()));
        self.table.fallbacks = all;
    }

    /// The trailing-slash policy (default [`TrailingSlash::Redirect`]). Only
    /// the outermost router's policy counts.
    pub fn trailing_slash(mut self, policy: TrailingSlash) -> Router {
        self.app = OnceLock::new();
        self.table.trailing_slash = policy;
        self
    }

    /// Adds middleware around everything this router answers, 404s and
    /// redirects included; for a nested router, around its routes. Onion
    /// order: the first added runs first.
    pub fn with(mut self, middleware: impl Middleware) -> Router {
        self.app = OnceLock::new();
        self.middleware.push(Arc::new(middleware));
        self
    }

    fn app(&self) -> &Chain {
        self.app.get_or_init(|| {
            Chain::from_parts(
                self.middleware.clone(),
                Arc::new(Dispatch(self.table.clone())),
            )
        })
    }
}

impl Handler for Router {
    fn call(&self, req: &mut Request) -> Reply {
        self.app().call(req)
    }

    fn is_blocking(&self) -> bool {
        self.middleware.iter().any(|m| m.is_blocking())
            || self.defs.iter().any(|d| d.chain.is_blocking())
            || self.table.fallbacks.iter().any(|(_, c)| c.is_blocking())
    }

    fn plan(&self, req: &mut Request) -> Plan {
        self.app().plan(req)
    }
}

impl fmt::Debug for Router {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let routes: Vec<String> = self.defs.iter().map(RouteDef::describe).collect();
        f.debug_struct("Router").field("routes", &routes).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{blocking, body_limit, Body, Next};

    fn tag(name: &'static str) -> impl Fn(&mut Request) -> Response + Send + Sync + 'static {
        move |req: &mut Request| {
            let params: Vec<String> = req.params().map(|(k, v)| format!("{k}={v}")).collect();
            Response::text(
                format!("{name} {}", params.join(" "))
                    .trim_end()
                    .to_string(),
            )
        }
    }

    fn body(resp: &Response) -> String {
        match &resp.body {
            Body::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
            Body::Empty => String::new(),
            other => panic!("unexpected body {other:?}"),
        }
    }

    fn get(app: &Router, target: &str) -> Response {
        app.respond(&mut Request::new(Method::Get, target))
    }

    #[test]
    fn precedence_is_literal_then_param_then_catch_all_in_any_order() {
        // Registered least specific first, to show order does not matter.
        let app = Router::new()
            .get("/users/*rest", tag("rest"))
            .get("/users/:id", tag("id"))
            .get("/users/new", tag("new"))
            .get("/users/:id/edit", tag("edit"));
        assert_eq!(body(&get(&app, "/users/new")), "new");
        assert_eq!(body(&get(&app, "/users/42")), "id id=42");
        assert_eq!(body(&get(&app, "/users/42/edit")), "edit id=42");
        // `new` is literal at the second segment but has no `/edit` below it:
        // backtrack to the parameter.
        assert_eq!(body(&get(&app, "/users/new/edit")), "edit id=new");
        assert_eq!(body(&get(&app, "/users/a/b/c")), "rest rest=a/b/c");
        assert_eq!(body(&get(&app, "/users/")), "rest rest=");
    }

    #[test]
    fn params_are_decoded_once_and_keep_encoded_slashes_inside() {
        let app = Router::new()
            .get("/u/:name", tag("u"))
            .get("/f/*path", tag("f"));
        assert_eq!(body(&get(&app, "/u/caf%C3%A9")), "u name=café");
        assert_eq!(body(&get(&app, "/u/a%2Fb")), "u name=a/b");
        assert_eq!(body(&get(&app, "/u/%2541")), "u name=%41");
        assert_eq!(body(&get(&app, "/f/a%20b/c")), "f path=a b/c");
        // A literal segment matches its encoded spelling too.
        let lit = Router::new().get("/hello world", tag("lit"));
        assert_eq!(body(&get(&lit, "/hello%20world")), "lit");
    }

    #[test]
    fn invalid_encoding_is_400() {
        let app = Router::new().get("/:x", tag("x"));
        for bad in ["/%00", "/%zz", "/%C3"] {
            assert_eq!(get(&app, bad).status, Status::BAD_REQUEST, "{bad}");
        }
    }

    #[test]
    fn conflicts_are_refused_naming_both() {
        let mut r = Router::new().get("/users/:id", tag("a"));
        let e = r
            .try_route(Some(Method::Get), "/users/:name", tag("b"))
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "route conflict: `GET /users/:name` matches the same requests as `GET /users/:id`"
        );
        // Another method on the same shape is fine; so is a different shape.
        r.try_route(Some(Method::Post), "/users/:name", tag("c"))
            .unwrap();
        r.try_route(Some(Method::Get), "/users/:id/posts", tag("d"))
            .unwrap();
        let mut r = Router::new().get("/f/*a", tag("a"));
        assert!(matches!(
            r.try_route(Some(Method::Get), "/f/*b", tag("b")),
            Err(RouteError::Conflict { .. })
        ));
        let mut r = Router::new().any("/x", tag("a"));
        assert!(r.try_route(None, "/x", tag("b")).is_err());
        r.try_route(Some(Method::Get), "/x", tag("c")).unwrap();
    }

    #[test]
    #[should_panic(expected = "route conflict: `GET /a` matches the same requests as `GET /a`")]
    fn builder_panics_on_conflict() {
        let _ = Router::new().get("/a", tag("1")).get("/a", tag("2"));
    }

    #[test]
    fn malformed_patterns_are_refused() {
        for bad in ["users", "/a/*rest/b", "/:", "/:a/:a", "/:a-b"] {
            let mut r = Router::new();
            assert!(
                matches!(
                    r.try_route(Some(Method::Get), bad, tag("x")),
                    Err(RouteError::InvalidPattern { .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn not_found_and_method_not_allowed_with_allow() {
        let app = Router::new()
            .get("/items", tag("list"))
            .post("/items", tag("create"))
            .delete("/items/:id", tag("del"));
        assert_eq!(get(&app, "/nothing").status, Status::NOT_FOUND);
        let resp = app.respond(&mut Request::new(Method::Put, "/items"));
        assert_eq!(resp.status, Status::METHOD_NOT_ALLOWED);
        assert_eq!(
            resp.headers.get("allow").unwrap().as_bytes(),
            b"GET, HEAD, POST, OPTIONS"
        );
        let resp = app.respond(&mut Request::new(Method::Get, "/items/3"));
        assert_eq!(
            resp.headers.get("allow").unwrap().as_bytes(),
            b"DELETE, OPTIONS"
        );
    }

    #[test]
    fn method_is_matched_with_the_path() {
        // GET /users/new is literal, but a POST to it belongs to /users/:id.
        let app = Router::new()
            .get("/users/new", tag("form"))
            .post("/users/:id", tag("update"));
        let resp = app.respond(&mut Request::new(Method::Post, "/users/new"));
        assert_eq!(body(&resp), "update id=new");
        let resp = app.respond(&mut Request::new(Method::Put, "/users/new"));
        assert_eq!(
            resp.headers.get("allow").unwrap().as_bytes(),
            b"GET, HEAD, POST, OPTIONS"
        );
    }

    #[test]
    fn head_uses_get_and_options_is_automatic() {
        let app = Router::new()
            .get("/page", tag("page"))
            .put("/page", tag("put"))
            .options("/custom", |_: &mut Request| Response::text("mine"));
        let head = app.respond(&mut Request::new(Method::Head, "/page"));
        assert_eq!((head.status, body(&head)), (Status::OK, "page".to_string()));
        let opts = app.respond(&mut Request::new(Method::Options, "/page"));
        assert_eq!(opts.status, Status::NO_CONTENT);
        assert_eq!(
            opts.headers.get("allow").unwrap().as_bytes(),
            b"GET, HEAD, PUT, OPTIONS"
        );
        assert_eq!(
            body(&app.respond(&mut Request::new(Method::Options, "/custom"))),
            "mine"
        );
        let star = app.respond(&mut Request::new(Method::Options, "*"));
        assert_eq!(star.status, Status::NO_CONTENT);
        assert_eq!(
            star.headers.get("allow").unwrap().as_bytes(),
            b"GET, HEAD, PUT, OPTIONS"
        );
    }

    #[test]
    fn any_answers_every_method_but_specific_wins() {
        let app = Router::new()
            .any("/hook", tag("any"))
            .get("/hook", tag("get"));
        assert_eq!(body(&get(&app, "/hook")), "get");
        assert_eq!(
            body(&app.respond(&mut Request::new(Method::Patch, "/hook"))),
            "any"
        );
        assert_eq!(
            body(&app.respond(&mut Request::new(
                Method::Extension("PURGE".into()),
                "/hook"
            ))),
            "any"
        );
    }

    #[test]
    fn trailing_slash_redirect_keeps_query_and_method() {
        let app = Router::new()
            .get("/docs/", tag("docs"))
            .post("/form", tag("form"));
        let r = get(&app, "/docs?x=1");
        assert_eq!(r.status, Status::MOVED_PERMANENTLY);
        assert_eq!(r.headers.get("location").unwrap().as_bytes(), b"/docs/?x=1");
        let r = app.respond(&mut Request::new(Method::Post, "/form/"));
        assert_eq!(r.status, Status::PERMANENT_REDIRECT);
        assert_eq!(r.headers.get("location").unwrap().as_bytes(), b"/form");
        // Never toward another host.
        let open = Router::new().get("//evil.example", tag("x"));
        assert_eq!(get(&open, "//evil.example/").status, Status::NOT_FOUND);

        let strict = Router::new()
            .trailing_slash(TrailingSlash::Strict)
            .get("/docs/", tag("docs"));
        assert_eq!(get(&strict, "/docs").status, Status::NOT_FOUND);
        assert_eq!(get(&strict, "/docs/").status, Status::OK);
    }

    #[test]
    fn nesting_prefixes_routes_and_scopes_middleware() {
        let mark = |req: &mut Request, next: Next<'_>| next.run(req).header("X-Api", "1");
        let api = Router::new()
            .with(mark)
            .get("/", tag("api-root"))
            .get("/users/:id", tag("user"))
            .fallback(|_: &mut Request| (Status::NOT_FOUND, "no such API"));
        let app = Router::new()
            .get("/", tag("home"))
            .nest("/api", api)
            .nest("/v/:version", Router::new().get("/info", tag("info")));
        assert_eq!(body(&get(&app, "/api")), "api-root");
        let r = get(&app, "/api/users/7");
        assert_eq!(body(&r), "user id=7");
        assert!(r.headers.contains("x-api"));
        assert_eq!(body(&get(&app, "/v/2/info")), "info version=2");
        // The child's middleware wraps its automatic answers and its fallback.
        let r = app.respond(&mut Request::new(Method::Post, "/api/users/7"));
        assert_eq!(r.status, Status::METHOD_NOT_ALLOWED);
        assert!(r.headers.contains("x-api"));
        let r = get(&app, "/api/missing");
        assert_eq!(
            (r.status, body(&r)),
            (Status::NOT_FOUND, "no such API".to_string())
        );
        assert!(r.headers.contains("x-api"));
        // Outside the prefix: the app's own 404, without the child's middleware.
        let r = get(&app, "/elsewhere");
        assert_eq!(r.status, Status::NOT_FOUND);
        assert!(!r.headers.contains("x-api"));
        // The app's routes still conflict with nested ones.
        let mut app = Router::new().get("/api/users/:x", tag("mine"));
        let e = app
            .try_nest("/api", Router::new().get("/users/:id", tag("theirs")))
            .unwrap_err();
        assert!(e.to_string().contains("GET /api/users/:x"), "{e}");
    }

    #[test]
    fn app_middleware_sees_404s_and_route_middleware_only_its_route() {
        let app = Router::new()
            .with(|req: &mut Request, next: Next<'_>| next.run(req).header("X-App", "1"))
            .get(
                "/a",
                tag("a")
                    .with(|req: &mut Request, next: Next<'_>| next.run(req).header("X-Route", "1")),
            )
            .get("/b", tag("b"));
        let a = get(&app, "/a");
        assert!(a.headers.contains("x-app") && a.headers.contains("x-route"));
        let b = get(&app, "/b");
        assert!(b.headers.contains("x-app") && !b.headers.contains("x-route"));
        let missing = get(&app, "/zzz");
        assert_eq!(missing.status, Status::NOT_FOUND);
        assert!(missing.headers.contains("x-app"));
    }

    #[test]
    fn plans_come_from_the_matched_route() {
        let app = Router::new()
            .get("/fast", tag("fast"))
            .get("/slow", blocking(tag("slow")))
            .post("/upload", body_limit(1024, tag("up")));
        assert!(app.is_blocking());
        let plan = |m: Method, t: &str| app.plan(&mut Request::new(m, t));
        assert_eq!(plan(Method::Get, "/fast"), Plan::default());
        assert!(plan(Method::Get, "/slow").blocking);
        assert_eq!(plan(Method::Post, "/upload").body_limit, Some(1024));
        assert_eq!(plan(Method::Get, "/upload"), Plan::default());
        assert!(!Router::new().get("/", tag("x")).is_blocking());
    }

    #[test]
    fn fallback_answers_unmatched_paths() {
        let app = Router::new()
            .get("/", tag("home"))
            .fallback(|req: &mut Request| Response::text(format!("fallback {}", req.path())));
        assert_eq!(body(&get(&app, "/x/y")), "fallback /x/y");
        // A known path with another method is still 405, not the fallback.
        assert_eq!(
            app.respond(&mut Request::new(Method::Post, "/")).status,
            Status::METHOD_NOT_ALLOWED
        );
    }

    #[test]
    fn absolute_form_targets_route_by_their_path() {
        let app = Router::new().get("/p", tag("p"));
        assert_eq!(body(&get(&app, "http://example.com/p")), "p");
    }
}
