//! Authentication middleware: HTTP Basic with stored password hashes (RFC 7617)
//! and Bearer tokens (RFC 6750).
//!
//! [`BasicAuth`] checks a user name and password against argon2 (PHC string)
//! or bcrypt hashes, never plain passwords, in time that does not depend on
//! the stored secret or on whether the user exists. [`BearerAuth`] checks a
//! token against a fixed list (compared in constant time) or a validator
//! function. Both answer a missing or wrong credential with 401 and the
//! challenge the RFCs prescribe, and on success put the user's name in the
//! request's extensions as [`AuthUser`] for handlers and access logs.
//!
//! Both let CORS preflights through by default: a browser never sends
//! credentials on a preflight (Fetch standard, CORS-preflight request), so an
//! authenticating preflight could never succeed. Add the
//! [`Cors`](crate::cors::Cors) middleware *before* (outside) authentication so
//! that it answers preflights and decorates 401 replies too.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::Engine;
use osprey_proto::{HeaderName, HeaderValue, Status};
use subtle::{Choice, ConditionallySelectable, ConstantTimeEq};

use crate::cors::is_preflight;
use osprey_web::{Middleware, Next};
use osprey_web::{Reply, Request, Response};

/// How long a successful Basic verification is remembered (5 minutes): long
/// enough that a browser session, which repeats the same `Authorization`
/// header on every request, pays for the password hash once, short enough
/// that a leaked cache entry soon stops mattering.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(5 * 60);

/// How many successful Basic verifications are remembered at most (1024
/// distinct `Authorization` values). Each entry is one header value, so the
/// cache stays under a few MiB even with the longest heads the server
/// accepts.
pub const DEFAULT_CACHE_ENTRIES: usize = 1024;

/// The realm [`BearerAuth`] names in its challenges unless told otherwise.
pub const DEFAULT_BEARER_REALM: &str = "api";

/// The authenticated user, stored in the request's
/// [extensions](osprey_web::Request::extensions) by [`BasicAuth`] and
/// [`BearerAuth`].
///
/// ```
/// use osprey_middleware::auth::AuthUser;
/// use osprey_web::Request;
/// fn whoami(req: &mut Request) -> String {
///     match req.extensions().get::<AuthUser>() {
///         Some(AuthUser(name)) => format!("hello {name}"),
///         None => "nobody".into(),
///     }
/// }
/// # let _ = whoami;
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthUser(pub String);

/// A configuration mistake found when building an authentication middleware.
/// The messages never quote the offending hash or token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthConfigError {
    /// The password hash is neither a PHC-format argon2 string
    /// (`$argon2id$…`) nor a bcrypt hash (`$2b$`, `$2a$`, `$2y$`).
    UnknownHashFormat,
    /// The hash has a known prefix but does not parse (bad parameters, salt
    /// or output).
    InvalidHash,
    /// The user name holds a colon or a control character (RFC 7617 §2: a
    /// user-id cannot contain a colon).
    InvalidUserName,
    /// The same user name was configured twice.
    DuplicateUser,
    /// A bearer token is empty or not of the `b64token` syntax (RFC 6750
    /// §2.1), so no client could ever send it.
    InvalidToken,
}

impl fmt::Display for AuthConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AuthConfigError::UnknownHashFormat => {
                "unknown password hash format: expected a PHC argon2 string ($argon2id$...) \
                 or a bcrypt hash ($2b$, $2a$ or $2y$); `osprey hash-password` makes one"
            }
            AuthConfigError::InvalidHash => "the password hash is malformed",
            AuthConfigError::InvalidUserName => {
                "a user name may not contain a colon or control characters"
            }
            AuthConfigError::DuplicateUser => "the same user name is configured twice",
            AuthConfigError::InvalidToken => {
                "a bearer token must be non-empty and made of letters, digits and -._~+/ \
                 followed by optional = padding (RFC 6750 section 2.1)"
            }
        })
    }
}

impl std::error::Error for AuthConfigError {}

/// Hashes `password` as an argon2id PHC string with a fresh random salt and
/// argon2's default parameters (what `osprey hash-password` prints, and what
/// [`BasicAuth::user`] accepts).
///
/// # Panics
/// Only if the operating system's random number generator fails.
///
/// ```
/// let hash = osprey_middleware::auth::hash_password("hunter2");
/// assert!(hash.starts_with("$argon2id$"));
/// ```
pub fn hash_password(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 with default parameters accepts any password")
        .to_string()
}

/// Hashes `password` with bcrypt at the crate's default cost (12), for
/// systems that expect bcrypt (`osprey hash-password --bcrypt`). bcrypt reads
/// only the first 72 bytes of a password; prefer [`hash_password`].
///
/// # Panics
/// Only if the operating system's random number generator fails.
pub fn hash_password_bcrypt(password: &str) -> String {
    bcrypt::hash(password, bcrypt::DEFAULT_COST)
        .expect("bcrypt hashes any password at the default cost")
}

/// A password hash as configured, checked for well-formedness up front.
#[derive(Clone)]
enum StoredHash {
    /// A PHC string; parsed again on each verification (cheap next to the
    /// hash itself) so that no borrowed `PasswordHash` has to be stored.
    Argon2(String),
    Bcrypt(String),
}

impl StoredHash {
    fn parse(hash: &str) -> Result<StoredHash, AuthConfigError> {
        if hash.starts_with("$argon2") {
            let parsed = PasswordHash::new(hash).map_err(|_| AuthConfigError::InvalidHash)?;
            argon2::Algorithm::try_from(parsed.algorithm)
                .map_err(|_| AuthConfigError::InvalidHash)?;
            argon2::Params::try_from(&parsed).map_err(|_| AuthConfigError::InvalidHash)?;
            if parsed.salt.is_none() || parsed.hash.is_none() {
                return Err(AuthConfigError::InvalidHash);
            }
            return Ok(StoredHash::Argon2(hash.to_owned()));
        }
        if ["$2b$", "$2a$", "$2y$"].iter().any(|p| hash.starts_with(p)) {
            let parts: bcrypt::HashParts =
                hash.parse().map_err(|_| AuthConfigError::InvalidHash)?;
            // The crate refuses costs outside 4..=31 only when hashing; refuse
            // them now so verification cannot fail later.
            if !(4..=31).contains(&parts.get_cost()) {
                return Err(AuthConfigError::InvalidHash);
            }
            return Ok(StoredHash::Bcrypt(hash.to_owned()));
        }
        Err(AuthConfigError::UnknownHashFormat)
    }

    /// Both algorithms recompute the hash from the stored salt and compare the
    /// outputs in constant time, so the time taken depends on the hash
    /// parameters, not on how much of the password is right.
    fn verify(&self, password: &[u8]) -> bool {
        match self {
            StoredHash::Argon2(phc) => match PasswordHash::new(phc) {
                Ok(parsed) => Argon2::default().verify_password(password, &parsed).is_ok(),
                Err(_) => false,
            },
            // bcrypt reads only the first 72 bytes of a password (the
            // algorithm's limit); argon2 has no such limit.
            StoredHash::Bcrypt(hash) => bcrypt::verify(password, hash).unwrap_or(false),
        }
    }
}

/// `given == secret` in time that depends on the secret's length and the
/// given length, never on their contents.
fn ct_eq_secret(given: &[u8], secret: &[u8]) -> Choice {
    let mut equal = (given.len() as u64).ct_eq(&(secret.len() as u64));
    for (i, s) in secret.iter().enumerate() {
        let g = given.get(i).copied().unwrap_or(0);
        equal &= g.ct_eq(s);
    }
    equal
}

/// The index of the entry whose secret equals `given`, looking at every entry
/// whatever matches (no early exit reveals which one did).
fn ct_find<'a>(given: &[u8], secrets: impl Iterator<Item = &'a [u8]>) -> Option<usize> {
    let mut found = Choice::from(0);
    let mut index = 0u64;
    for (i, secret) in secrets.enumerate() {
        let equal = ct_eq_secret(given, secret);
        index.conditional_assign(&(i as u64), equal);
        found |= equal;
    }
    bool::from(found).then_some(index as usize)
}

/// The value of the only `Authorization` field. `Err` when there are several
/// (the field is not a list, RFC 9110 §11.6.2).
fn authorization(req: &Request) -> Result<Option<&[u8]>, ()> {
    let mut values = req
        .headers()
        .filter(|(n, _)| n.eq_ignore_ascii_case(b"authorization"))
        .map(|(_, v)| v);
    let first = values.next();
    match values.next() {
        Some(_) => Err(()),
        None => Ok(first),
    }
}

/// Splits `credentials = auth-scheme [ 1*SP token68 ]` (RFC 9110 §11.4) when
/// the scheme is `scheme` (compared case-insensitively, §11.1). The
/// credentials are empty when the scheme comes alone.
fn credentials_for<'a>(value: &'a [u8], scheme: &str) -> Option<&'a [u8]> {
    let n = scheme.len();
    let named = value.len() >= n && value[..n].eq_ignore_ascii_case(scheme.as_bytes());
    if !named || value.get(n).is_some_and(|&b| b != b' ') {
        return None;
    }
    let rest = &value[n..];
    let start = rest.iter().position(|&b| b != b' ').unwrap_or(rest.len());
    Some(&rest[start..])
}

/// `token68`-style bearer token syntax (RFC 6750 §2.1): `1*( ALPHA / DIGIT /
/// "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn is_b64token(token: &[u8]) -> bool {
    let body = token.len() - token.iter().rev().take_while(|&&b| b == b'=').count();
    body > 0
        && token[..body]
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
}

/// `text` as an RFC 9110 §5.6.4 quoted-string.
fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Builds a challenge value.
///
/// # Panics
/// When the realm holds control characters (no quoted-string can carry them).
fn challenge(text: String) -> HeaderValue {
    HeaderValue::try_from(text).expect("the realm may not contain control characters")
}

type RequestFilter = Box<dyn Fn(&Request) -> bool + Send + Sync>;

/// Remembers which exact `Authorization` values verified, and as whom.
///
/// Security trade-off: a hit skips the (deliberately slow) password hash, so
/// the cache holds credentials — the header value is the base64 of
/// `user:password` — in memory for up to its TTL. Anyone able to read the
/// process's memory could read them, but they could read the same values in
/// the request buffers. The cache cannot admit a wrong password: only a value
/// that verified is stored, and a lookup matches the whole value. The map is
/// hashed with std's per-process random SipHash keys, so lookup times do not
/// let a client probe for cached values; failed attempts are never cached, so
/// guessing always pays the full hash. Users are fixed when the middleware is
/// built, so no entry can outlive a removed user or a changed password.
struct VerifiedCache {
    ttl: Duration,
    capacity: usize,
    /// `Authorization` value → (user, expiry).
    entries: Mutex<HashMap<Box<[u8]>, CachedUser>>,
}

type CachedUser = (String, Instant);

impl VerifiedCache {
    fn get(&self, key: &[u8], now: Instant) -> Option<String> {
        if self.capacity == 0 {
            return None;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        match entries.get(key) {
            Some((user, expires)) if now < *expires => Some(user.clone()),
            Some(_) => {
                entries.remove(key);
                None
            }
            None => None,
        }
    }

    fn put(&self, key: &[u8], user: &str, now: Instant) {
        if self.capacity == 0 || self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= self.capacity && !entries.contains_key(key) {
            // Full: drop what has expired; if that is not enough, forget
            // everything. A scan per insert while full costs far less than
            // the password hash that precedes every insert.
            entries.retain(|_, (_, expires)| now < *expires);
            if entries.len() >= self.capacity {
                entries.clear();
            }
        }
        entries.insert(key.into(), (user.to_owned(), now + self.ttl));
    }
}

struct User {
    name: String,
    hash: StoredHash,
}

/// HTTP Basic authentication (RFC 7617) against argon2 or bcrypt password
/// hashes.
///
/// A request without valid credentials gets 401 with `WWW-Authenticate:
/// Basic realm="…", charset="UTF-8"` (RFC 7617 §2.1); a valid one goes on
/// with [`AuthUser`] in its extensions. Verification is slow by design, so
/// this middleware is blocking (event loops run the routes behind it on
/// their worker pool) and remembers successful verifications for
/// [`DEFAULT_CACHE_TTL`].
///
/// For a user name that is not configured the password is still checked,
/// against the first user's hash, so the reply takes as long as for a real
/// user: give every user hashes of the same algorithm and parameters, or
/// timing tells which names exist. Names and passwords are compared byte for
/// byte, without Unicode normalization.
///
/// ```
/// use osprey_middleware::auth::{hash_password, AuthUser, BasicAuth};
/// use osprey_web::{Handler, Method, Request, Response, Router};
///
/// // A real application loads a hash made once with `osprey hash-password`;
/// // this bcrypt hash of "secret" has the cheapest cost to keep the example fast.
/// let hash = "$2b$04$cJQUUJC6BB0grEbmyp6BjehDJA5DoEUSNSluy/i0Eqvu0bBu2tKs.";
/// let app = Router::new()
///     .with(BasicAuth::new("admin area").user("alice", hash).unwrap())
///     .get("/", |req: &mut Request| {
///         let AuthUser(name) = req.extensions().get::<AuthUser>().unwrap();
///         Response::text(format!("hello {name}"))
///     });
///
/// let denied = app.respond(&mut Request::new(Method::Get, "/"));
/// assert_eq!(denied.status.as_u16(), 401);
/// assert_eq!(
///     denied.headers.get("www-authenticate").unwrap().as_bytes(),
///     br#"Basic realm="admin area", charset="UTF-8""#
/// );
/// // "alice:secret" in base64
/// let mut ok = Request::new(Method::Get, "/").with_header("Authorization", "Basic YWxpY2U6c2VjcmV0");
/// assert_eq!(app.respond(&mut ok).status.as_u16(), 200);
/// # let _ = hash_password;
/// ```
pub struct BasicAuth {
    users: Vec<User>,
    challenge: HeaderValue,
    allow_preflight: bool,
    unauthenticated: Option<RequestFilter>,
    cache: VerifiedCache,
    #[cfg(test)]
    verifications: std::sync::atomic::AtomicUsize,
}

impl BasicAuth {
    /// Basic authentication for `realm` (shown by browsers in their login
    /// prompt), with no users yet: add them with [`BasicAuth::user`].
    ///
    /// # Panics
    /// When `realm` holds control characters.
    pub fn new(realm: &str) -> BasicAuth {
        BasicAuth {
            users: Vec::new(),
            // RFC 7617 §2.1: the charset parameter tells the client to send
            // user name and password as UTF-8.
            challenge: challenge(format!("Basic realm={}, charset=\"UTF-8\"", quoted(realm))),
            allow_preflight: true,
            unauthenticated: None,
            cache: VerifiedCache {
                ttl: DEFAULT_CACHE_TTL,
                capacity: DEFAULT_CACHE_ENTRIES,
                entries: Mutex::new(HashMap::new()),
            },
            #[cfg(test)]
            verifications: Default::default(),
        }
    }

    /// Adds user `name` with `password_hash`: a PHC-format argon2 string
    /// (`$argon2id$v=19$m=…`, from [`hash_password`] or `osprey
    /// hash-password`) or a bcrypt hash (`$2b$…`, `$2a$…`, `$2y$…`). An
    /// unknown format or malformed hash is refused here rather than failing
    /// every login later.
    pub fn user(mut self, name: &str, password_hash: &str) -> Result<BasicAuth, AuthConfigError> {
        if name.contains(':') || name.chars().any(char::is_control) {
            return Err(AuthConfigError::InvalidUserName);
        }
        if self.users.iter().any(|u| u.name == name) {
            return Err(AuthConfigError::DuplicateUser);
        }
        let hash = StoredHash::parse(password_hash)?;
        self.users.push(User {
            name: name.to_owned(),
            hash,
        });
        Ok(self)
    }

    /// Whether CORS preflight requests (`OPTIONS` with `Origin` and
    /// `Access-Control-Request-Method`) pass without credentials; true by
    /// default, since browsers never send credentials on a preflight.
    pub fn allow_preflight(mut self, allow: bool) -> BasicAuth {
        self.allow_preflight = allow;
        self
    }

    /// Lets requests for which `filter` returns true through without
    /// credentials (a health check, a public page).
    pub fn allow_unauthenticated(
        mut self,
        filter: impl Fn(&Request) -> bool + Send + Sync + 'static,
    ) -> BasicAuth {
        self.unauthenticated = Some(Box::new(filter));
        self
    }

    /// Remembers successful verifications for `ttl`, at most `entries` of
    /// them (defaults [`DEFAULT_CACHE_TTL`], [`DEFAULT_CACHE_ENTRIES`]); zero
    /// for either turns the cache off, so every request pays the hash.
    pub fn cache(mut self, ttl: Duration, entries: usize) -> BasicAuth {
        self.cache.ttl = ttl;
        self.cache.capacity = entries;
        self
    }

    fn refuse(&self) -> Response {
        Response::status_text(Status::UNAUTHORIZED)
            .header(HeaderName::WWW_AUTHENTICATE, self.challenge.clone())
    }

    /// The user `req` authenticates as, if any.
    fn authenticate(&self, req: &Request, now: Instant) -> Option<String> {
        let value = authorization(req).ok()??;
        if let Some(user) = self.cache.get(value, now) {
            return Some(user);
        }
        // RFC 7617 §2: credentials = base64(user-id ":" password).
        let encoded = credentials_for(value, "Basic")?;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .ok()?;
        let colon = decoded.iter().position(|&b| b == b':')?;
        let (name, password) = (&decoded[..colon], &decoded[colon + 1..]);
        let user = self.verify(name, password)?;
        self.cache.put(value, &user, now);
        Some(user)
    }

    /// Checks `password` for `name`, running one hash verification whether or
    /// not the user exists.
    fn verify(&self, name: &[u8], password: &[u8]) -> Option<String> {
        let first = self.users.first()?;
        let index = ct_find(name, self.users.iter().map(|u| u.name.as_bytes()));
        let user = index.map_or(first, |i| &self.users[i]);
        #[cfg(test)]
        self.verifications
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let password_ok = user.hash.verify(password);
        (index.is_some() && password_ok).then(|| user.name.clone())
    }
}

impl Middleware for BasicAuth {
    fn handle(&self, req: &mut Request, next: Next<'_>) -> Reply {
        if (self.allow_preflight && is_preflight(req))
            || self.unauthenticated.as_ref().is_some_and(|f| f(req))
        {
            return next.run(req);
        }
        match self.authenticate(req, Instant::now()) {
            Some(user) => {
                req.extensions_mut().insert(AuthUser(user));
                next.run(req)
            }
            None => self.refuse().into(),
        }
    }

    /// Password hashing takes tens of milliseconds on purpose.
    fn is_blocking(&self) -> bool {
        true
    }
}

type TokenValidator = Box<dyn Fn(&str) -> Option<String> + Send + Sync>;

enum TokenCheck {
    /// (user, token) pairs.
    Static(Vec<(String, Box<[u8]>)>),
    Validator(TokenValidator),
}

/// Bearer token authentication (RFC 6750 §2.1: `Authorization: Bearer
/// TOKEN`).
///
/// No `Authorization` field (or another scheme) gets 401 with
/// `WWW-Authenticate: Bearer realm="…"`; a token that is not valid gets 401
/// with `error="invalid_token"` added; a malformed field (several of them, a
/// token of bad syntax) gets 400 with `error="invalid_request"` (RFC 6750
/// §3.1). A valid token goes on with [`AuthUser`] in the extensions.
///
/// ```
/// use osprey_middleware::auth::{AuthUser, BearerAuth};
/// use osprey_web::{Handler, Method, Request, Response, Router};
///
/// let app = Router::new()
///     .with(BearerAuth::new([("ci-bot", "s3cr3t-t0ken")]).unwrap().realm("deploy"))
///     .post("/deploy", |req: &mut Request| {
///         Response::text(format!("deployed by {}", req.extensions().get::<AuthUser>().unwrap().0))
///     });
/// let mut req = Request::new(Method::Post, "/deploy").with_header("Authorization", "Bearer s3cr3t-t0ken");
/// assert_eq!(app.respond(&mut req).status.as_u16(), 200);
/// let mut wrong = Request::new(Method::Post, "/deploy").with_header("Authorization", "Bearer guess");
/// let resp = app.respond(&mut wrong);
/// assert_eq!(resp.status.as_u16(), 401);
/// assert_eq!(
///     resp.headers.get("www-authenticate").unwrap().as_bytes(),
///     br#"Bearer realm="deploy", error="invalid_token""#
/// );
/// ```
pub struct BearerAuth {
    check: TokenCheck,
    realm: String,
    allow_preflight: bool,
    unauthenticated: Option<RequestFilter>,
    blocking: bool,
}

impl BearerAuth {
    /// Accepts the given `(user, token)` pairs; the user name is what
    /// [`AuthUser`] holds for that token. Every token is compared in
    /// constant time.
    pub fn new<U, T>(
        tokens: impl IntoIterator<Item = (U, T)>,
    ) -> Result<BearerAuth, AuthConfigError>
    where
        U: Into<String>,
        T: AsRef<str>,
    {
        let mut list = Vec::new();
        for (user, token) in tokens {
            let token = token.as_ref().as_bytes();
            if !is_b64token(token) {
                return Err(AuthConfigError::InvalidToken);
            }
            list.push((user.into(), token.into()));
        }
        Ok(BearerAuth::from_check(TokenCheck::Static(list)))
    }

    /// Accepts a token when `validator` returns the user it belongs to (look
    /// it up in a table, check a signature). A validator that blocks (a
    /// database query) should be paired with [`BearerAuth::blocking`].
    pub fn with_validator(
        validator: impl Fn(&str) -> Option<String> + Send + Sync + 'static,
    ) -> BearerAuth {
        BearerAuth::from_check(TokenCheck::Validator(Box::new(validator)))
    }

    fn from_check(check: TokenCheck) -> BearerAuth {
        BearerAuth {
            check,
            realm: quoted(DEFAULT_BEARER_REALM),
            allow_preflight: true,
            unauthenticated: None,
            blocking: false,
        }
    }

    /// The realm named in challenges (default [`DEFAULT_BEARER_REALM`]).
    ///
    /// # Panics
    /// When `realm` holds control characters.
    pub fn realm(mut self, realm: &str) -> BearerAuth {
        let realm = quoted(realm);
        challenge(realm.clone());
        self.realm = realm;
        self
    }

    /// Whether CORS preflights pass without a token (default true); see
    /// [`BasicAuth::allow_preflight`].
    pub fn allow_preflight(mut self, allow: bool) -> BearerAuth {
        self.allow_preflight = allow;
        self
    }

    /// Lets requests for which `filter` returns true through without a token.
    pub fn allow_unauthenticated(
        mut self,
        filter: impl Fn(&Request) -> bool + Send + Sync + 'static,
    ) -> BearerAuth {
        self.unauthenticated = Some(Box::new(filter));
        self
    }

    /// Marks this middleware as blocking (its validator waits on I/O), so
    /// event loops run the routes behind it on their worker pool.
    pub fn blocking(mut self, blocking: bool) -> BearerAuth {
        self.blocking = blocking;
        self
    }

    fn refuse(&self, status: Status, error: Option<&str>) -> Response {
        let value = match error {
            Some(error) => format!("Bearer realm={}, error=\"{error}\"", self.realm),
            None => format!("Bearer realm={}", self.realm),
        };
        Response::status_text(status).header(HeaderName::WWW_AUTHENTICATE, challenge(value))
    }

    fn user_for(&self, token: &[u8]) -> Option<String> {
        match &self.check {
            TokenCheck::Static(list) => {
                let i = ct_find(token, list.iter().map(|(_, t)| &**t))?;
                Some(list[i].0.clone())
            }
            // b64token syntax is ASCII, so this cannot fail.
            TokenCheck::Validator(validate) => validate(std::str::from_utf8(token).ok()?),
        }
    }
}

impl Middleware for BearerAuth {
    fn handle(&self, req: &mut Request, next: Next<'_>) -> Reply {
        if (self.allow_preflight && is_preflight(req))
            || self.unauthenticated.as_ref().is_some_and(|f| f(req))
        {
            return next.run(req);
        }
        let value = match authorization(req) {
            Ok(Some(value)) => value,
            // RFC 6750 §3.1: no credentials at all, no error code.
            Ok(None) => return self.refuse(Status::UNAUTHORIZED, None).into(),
            Err(()) => {
                return self
                    .refuse(Status::BAD_REQUEST, Some("invalid_request"))
                    .into()
            }
        };
        let token = match credentials_for(value, "Bearer") {
            Some(token) if is_b64token(token) => token,
            Some(_) => {
                return self
                    .refuse(Status::BAD_REQUEST, Some("invalid_request"))
                    .into()
            }
            // Another scheme (Basic): the client did not try a bearer token.
            None => return self.refuse(Status::UNAUTHORIZED, None).into(),
        };
        match self.user_for(token) {
            Some(user) => {
                req.extensions_mut().insert(AuthUser(user));
                next.run(req)
            }
            None => self
                .refuse(Status::UNAUTHORIZED, Some("invalid_token"))
                .into(),
        }
    }

    fn is_blocking(&self) -> bool {
        self.blocking
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use osprey_web::{Handler, Method};
    use std::sync::atomic::Ordering;

    /// Cheapest bcrypt cost and argon2 parameters, so debug-build tests stay fast.
    fn bcrypt_hash(password: &str) -> String {
        bcrypt::hash(password, 4).unwrap()
    }

    fn argon2_hash(password: &str) -> String {
        let params = argon2::Params::new(64, 1, 1, None).unwrap();
        let argon = Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let salt = SaltString::generate(&mut OsRng);
        argon
            .hash_password(password.as_bytes(), &salt)
            .unwrap()
            .to_string()
    }

    fn basic(user: &str, password: &str) -> String {
        let raw = format!("{user}:{password}");
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }

    fn whoami(req: &mut Request) -> Response {
        match req.extensions().get::<AuthUser>() {
            Some(AuthUser(u)) => Response::text(format!("user {u}")),
            None => Response::text("anonymous"),
        }
    }

    fn body(resp: &Response) -> &[u8] {
        match &resp.body {
            osprey_web::Body::Bytes(b) => b,
            other => panic!("unexpected body {other:?}"),
        }
    }

    fn auth() -> BasicAuth {
        BasicAuth::new("test")
            .user("alice", &argon2_hash("wonderland"))
            .unwrap()
            .user("bob", &bcrypt_hash("builder"))
            .unwrap()
    }

    fn call(chain: &osprey_web::Chain, authorization: Option<&str>) -> Response {
        let mut req = Request::new(Method::Get, "/");
        if let Some(a) = authorization {
            req = req.with_header("Authorization", a);
        }
        chain.respond(&mut req)
    }

    #[test]
    fn argon2_and_bcrypt_users_are_accepted_with_the_right_password() {
        let chain = whoami.with(auth());
        let r = call(&chain, Some(&basic("alice", "wonderland")));
        assert_eq!((r.status, body(&r)), (Status::OK, &b"user alice"[..]));
        let r = call(&chain, Some(&basic("bob", "builder")));
        assert_eq!((r.status, body(&r)), (Status::OK, &b"user bob"[..]));
        // A password may contain colons: only the first one splits.
        let chain = whoami.with(
            BasicAuth::new("t")
                .user("carol", &bcrypt_hash("a:b:c"))
                .unwrap(),
        );
        assert_eq!(
            call(&chain, Some(&basic("carol", "a:b:c"))).status,
            Status::OK
        );
    }

    #[test]
    fn missing_wrong_and_malformed_credentials_get_the_challenge() {
        let chain = whoami.with(auth());
        let wrong = [
            None,
            Some(basic("alice", "wrong")),
            Some(basic("bob", "wonderland")),
            Some(basic("mallory", "wonderland")),
            Some(basic("alice", "")),
            Some("Basic !!!notbase64".into()),
            Some("Basic YWxpY2U=".into()), // "alice": no colon
            Some("Basic".into()),
            Some("Basic ".into()),
            Some("Bearer YWxpY2U6d29uZGVybGFuZA==".into()),
            Some("Basicx YWxpY2U6d29uZGVybGFuZA==".into()),
        ];
        for authorization in &wrong {
            let r = call(&chain, authorization.as_deref());
            assert_eq!(r.status, Status::UNAUTHORIZED, "{authorization:?}");
            assert_eq!(
                r.headers.get("www-authenticate").unwrap().as_bytes(),
                br#"Basic realm="test", charset="UTF-8""#
            );
            assert_eq!(body(&r), b"Unauthorized\n", "never echoes the input");
        }
    }

    #[test]
    fn scheme_is_case_insensitive_and_extra_spaces_are_allowed() {
        let chain = whoami.with(auth());
        let value = basic("bob", "builder").replace("Basic ", "bAsIc   ");
        assert_eq!(call(&chain, Some(&value)).status, Status::OK);
    }

    #[test]
    fn two_authorization_fields_are_refused() {
        let chain = whoami.with(auth());
        let mut req = Request::new(Method::Get, "/")
            .with_header("Authorization", &basic("bob", "builder"))
            .with_header("Authorization", &basic("bob", "builder"));
        assert_eq!(chain.respond(&mut req).status, Status::UNAUTHORIZED);
    }

    #[test]
    fn unknown_users_still_pay_one_verification() {
        let auth = auth().cache(Duration::ZERO, 0);
        let value = basic("nobody", "wonderland");
        let req = Request::new(Method::Get, "/").with_header("Authorization", &value);
        assert_eq!(auth.authenticate(&req, Instant::now()), None);
        assert_eq!(auth.verifications.load(Ordering::Relaxed), 1);
        // And the first user's right password does not help an unknown name.
        let req = Request::new(Method::Get, "/")
            .with_header("Authorization", &basic("alicex", "wonderland"));
        assert_eq!(auth.authenticate(&req, Instant::now()), None);
        assert_eq!(auth.verifications.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn successful_verifications_are_cached_until_they_expire() {
        let auth = auth().cache(Duration::from_secs(60), 8);
        let req =
            Request::new(Method::Get, "/").with_header("Authorization", &basic("bob", "builder"));
        let t0 = Instant::now();
        let verified = |at| auth.authenticate(&req, at);
        assert_eq!(verified(t0).as_deref(), Some("bob"));
        assert_eq!(
            verified(t0 + Duration::from_secs(59)).as_deref(),
            Some("bob")
        );
        assert_eq!(auth.verifications.load(Ordering::Relaxed), 1);
        assert_eq!(
            verified(t0 + Duration::from_secs(60)).as_deref(),
            Some("bob")
        );
        assert_eq!(auth.verifications.load(Ordering::Relaxed), 2);
        // Failures are never cached.
        let bad =
            Request::new(Method::Get, "/").with_header("Authorization", &basic("bob", "nope"));
        assert_eq!(auth.authenticate(&bad, t0), None);
        assert_eq!(auth.authenticate(&bad, t0), None);
        assert_eq!(auth.verifications.load(Ordering::Relaxed), 4);
    }

    #[test]
    fn the_cache_stays_bounded() {
        let cache = VerifiedCache {
            ttl: Duration::from_secs(10),
            capacity: 3,
            entries: Mutex::new(HashMap::new()),
        };
        let t0 = Instant::now();
        for i in 0..10u8 {
            cache.put(&[i], "u", t0 + Duration::from_secs(u64::from(i)));
            assert!(cache.entries.lock().unwrap().len() <= 3);
        }
        // The newest is always kept.
        assert_eq!(
            cache.get(&[9], t0 + Duration::from_secs(9)).as_deref(),
            Some("u")
        );
        // Expired entries are dropped first when full: 0 has expired at t=10.
        let cache = VerifiedCache {
            ttl: Duration::from_secs(10),
            capacity: 2,
            entries: Mutex::new(HashMap::new()),
        };
        cache.put(b"old", "u", t0);
        cache.put(b"mid", "u", t0 + Duration::from_secs(5));
        cache.put(b"new", "u", t0 + Duration::from_secs(10));
        let later = t0 + Duration::from_secs(11);
        assert_eq!(cache.get(b"old", later), None);
        assert!(cache.get(b"mid", later).is_some());
        assert!(cache.get(b"new", later).is_some());
    }

    #[test]
    fn configuration_errors_are_caught_early() {
        let b = || BasicAuth::new("r");
        assert_eq!(
            b().user("a", "plaintext").err(),
            Some(AuthConfigError::UnknownHashFormat)
        );
        assert_eq!(
            b().user("a", "$1$md5crypt$xyz").err(),
            Some(AuthConfigError::UnknownHashFormat)
        );
        assert_eq!(
            b().user("a", "$argon2id$v=19$m=zz").err(),
            Some(AuthConfigError::InvalidHash)
        );
        assert_eq!(
            b().user("a", "$2b$04$tooshort").err(),
            Some(AuthConfigError::InvalidHash)
        );
        assert_eq!(
            b().user("a:b", &bcrypt_hash("x")).err(),
            Some(AuthConfigError::InvalidUserName)
        );
        let h = bcrypt_hash("x");
        assert_eq!(
            b().user("a", &h).unwrap().user("a", &h).err(),
            Some(AuthConfigError::DuplicateUser)
        );
        // $2a$ and $2y$ are accepted too.
        let h2a = h.replacen("$2b$", "$2a$", 1);
        let h2y = h.replacen("$2b$", "$2y$", 1);
        assert!(b().user("a", &h2a).is_ok() && b().user("a", &h2y).is_ok());
        let msg = AuthConfigError::UnknownHashFormat.to_string();
        assert!(msg.contains("argon2") && msg.contains("bcrypt"));
    }

    #[test]
    fn hash_password_makes_a_verifiable_argon2id_phc_string() {
        let hash = hash_password("pässword");
        assert!(hash.starts_with("$argon2id$v=19$"), "{hash}");
        assert_ne!(hash, hash_password("pässword"), "salts are random");
        let stored = StoredHash::parse(&hash).unwrap();
        assert!(stored.verify("pässword".as_bytes()));
        assert!(!stored.verify(b"password"));
    }

    #[test]
    fn preflights_and_allowed_requests_skip_authentication() {
        let chain = whoami.with(auth().allow_unauthenticated(|r| r.path() == "/health"));
        let mut pre = Request::new(Method::Options, "/")
            .with_header("Origin", "https://a.example")
            .with_header("Access-Control-Request-Method", "PUT");
        let r = chain.respond(&mut pre);
        assert_eq!((r.status, body(&r)), (Status::OK, &b"anonymous"[..]));
        // A plain OPTIONS is not a preflight.
        let mut plain = Request::new(Method::Options, "/");
        assert_eq!(chain.respond(&mut plain).status, Status::UNAUTHORIZED);
        let mut health = Request::new(Method::Get, "/health");
        assert_eq!(chain.respond(&mut health).status, Status::OK);

        let strict = whoami.with(auth().allow_preflight(false));
        let mut pre = Request::new(Method::Options, "/")
            .with_header("Origin", "https://a.example")
            .with_header("Access-Control-Request-Method", "PUT");
        assert_eq!(strict.respond(&mut pre).status, Status::UNAUTHORIZED);
    }

    #[test]
    fn basic_auth_is_blocking() {
        assert!(auth().is_blocking());
        assert!(whoami.with(auth()).is_blocking());
    }

    #[test]
    fn realm_is_quoted() {
        let a = BasicAuth::new(r#"say "hi" \o/"#);
        assert_eq!(
            a.challenge.as_bytes(),
            br#"Basic realm="say \"hi\" \\o/", charset="UTF-8""#
        );
    }

    #[test]
    fn constant_time_comparison_helpers() {
        assert!(bool::from(ct_eq_secret(b"abc", b"abc")));
        assert!(!bool::from(ct_eq_secret(b"abd", b"abc")));
        assert!(!bool::from(ct_eq_secret(b"ab", b"abc")));
        assert!(!bool::from(ct_eq_secret(b"abcd", b"abc")));
        assert!(!bool::from(ct_eq_secret(b"", b"abc")));
        assert!(bool::from(ct_eq_secret(b"", b"")));
        let secrets: [&[u8]; 3] = [b"one", b"two", b"three"];
        assert_eq!(ct_find(b"two", secrets.iter().copied()), Some(1));
        assert_eq!(ct_find(b"three", secrets.iter().copied()), Some(2));
        assert_eq!(ct_find(b"four", secrets.iter().copied()), None);
    }

    fn bearer_call(auth: BearerAuth, headers: &[&str]) -> Response {
        let chain = whoami.with(auth);
        let mut req = Request::new(Method::Get, "/");
        for h in headers {
            req = req.with_header("Authorization", h);
        }
        chain.respond(&mut req)
    }

    fn tokens() -> BearerAuth {
        BearerAuth::new([("ci", "tok-123"), ("ops", "b64+/tok==")]).unwrap()
    }

    #[test]
    fn bearer_tokens() {
        let r = bearer_call(tokens(), &["Bearer tok-123"]);
        assert_eq!((r.status, body(&r)), (Status::OK, &b"user ci"[..]));
        let r = bearer_call(tokens(), &["bearer b64+/tok=="]);
        assert_eq!((r.status, body(&r)), (Status::OK, &b"user ops"[..]));

        let challenge = |r: &Response| {
            r.headers
                .get("www-authenticate")
                .unwrap()
                .to_str()
                .unwrap()
                .to_string()
        };
        // RFC 6750 §3.1: no credentials → no error code.
        for missing in [&[][..], &["Basic dTpw"][..]] {
            let r = bearer_call(tokens(), missing);
            assert_eq!(r.status, Status::UNAUTHORIZED);
            assert_eq!(challenge(&r), r#"Bearer realm="api""#);
        }
        for wrong in ["Bearer tok-124", "Bearer tok-1234", "Bearer tok"] {
            let r = bearer_call(tokens().realm("x"), &[wrong]);
            assert_eq!(r.status, Status::UNAUTHORIZED, "{wrong}");
            assert_eq!(challenge(&r), r#"Bearer realm="x", error="invalid_token""#);
        }
        for malformed in [
            &["Bearer "][..],
            &["Bearer a b"],
            &["Bearer =="],
            &["Bearer tok-123", "Bearer tok-123"],
        ] {
            let r = bearer_call(tokens(), malformed);
            assert_eq!(r.status, Status::BAD_REQUEST, "{malformed:?}");
            assert_eq!(
                challenge(&r),
                r#"Bearer realm="api", error="invalid_request""#
            );
            assert_eq!(body(&r), b"Bad Request\n");
        }
    }

    #[test]
    fn bearer_validator_and_configuration() {
        let auth = BearerAuth::with_validator(|t| (t == "good").then(|| "svc".to_string()));
        let r = bearer_call(auth, &["Bearer good"]);
        assert_eq!((r.status, body(&r)), (Status::OK, &b"user svc"[..]));
        let auth = BearerAuth::with_validator(|_| None);
        assert_eq!(
            bearer_call(auth, &["Bearer good"]).status,
            Status::UNAUTHORIZED
        );
        assert!(!BearerAuth::with_validator(|_| None).is_blocking());
        assert!(BearerAuth::with_validator(|_| None)
            .blocking(true)
            .is_blocking());

        for bad in ["", "has space", "==", "a=b", "ünï"] {
            assert_eq!(
                BearerAuth::new([("u", bad)]).err(),
                Some(AuthConfigError::InvalidToken),
                "{bad:?}"
            );
        }
        // Preflights pass by default.
        let chain = whoami.with(tokens());
        let mut pre = Request::new(Method::Options, "/")
            .with_header("Origin", "https://a.example")
            .with_header("Access-Control-Request-Method", "DELETE");
        assert_eq!(chain.respond(&mut pre).status, Status::OK);
    }
}
