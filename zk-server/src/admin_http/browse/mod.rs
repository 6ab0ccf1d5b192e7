//! The tree browser (`/browse` on the AdminServer): server-rendered HTML with real links, so
//! it works without JavaScript; a small script (`_assets/browse.js`) expands nodes in place
//! and loads more children without leaving the page.
//!
//! It reads the committed tree the core hands over ([`super::CoreLink::tree`], a cheap copy),
//! never through a client session, so browsing sets no watches and costs the core one clone
//! per request. Rendering runs on a blocking thread.
//!
//! # URLs
//!
//! - `/browse`, `/browse/{*path}`: a node's page; each znode name is one percent-encoded URL
//!   segment (`/browse/app/a` is `/app/a`). `?offset=&limit=` pages its children (default
//!   100, at most 1000; see [`page`] for their order), `?view=text|json|hex|base64` picks the
//!   data view, `?raw=1` downloads the data, `?part=children` answers the children list
//!   alone (for the script).
//! - `/browse?path=/app/a`: the same page by a path typed whole (the "go to" box).
//! - `/browse?search=<text or glob>[&under=/app]`: paths that match ([`search`]).
//! - `/browse?session=0x...`: a session, its connection and its ephemerals ([`session`]).
//! - `/browse/_assets/browse.js`, `/browse/_assets/browse.css`: the script and style sheet.
//!
//! What a page shows follows the node's ACL as a client session would meet it ([`access`]):
//! data, children and ACL need READ for the request's identities (its address, and
//! `Authorization: digest user:password` if sent).
//!
//! Bad paths (`..`, `//`, NUL, bad percent-encoding) get 400, a missing node 404 with a link
//! to its nearest ancestor, a server not serving (an ensemble member in election) 503. Every
//! answer carries a Content-Security-Policy that allows only this server's own script and
//! style sheet (no inline script), and `X-Content-Type-Options: nosniff`.
//!
//! # Writes
//!
//! With `admin.browser.writable=true` a node's page also has forms to set its data (checking
//! the version the page showed), create a child (persistent, persistent sequential or
//! container) and delete it (childless, version checked). They post to
//! `/browse/_write/{set,create,delete}` ([`forms`]), and the browser makes the write as a
//! client would ([`write`]): a short session on the server's own plain client port,
//! authenticated with the `user:password` of the request's `Authorization: digest
//! user:password` header, so the write takes the server's whole pipeline (ACL checks, quotas,
//! the log, the ensemble, watches). Before connecting, the browser checks the node's ACL for
//! that digest identity alone: the internal session comes from this host, and an `ip` ACL
//! entry for it must not let everyone who reaches the AdminServer write.
//!
//! A write is refused with 403 when writes are off or the request comes from another site
//! (its `Origin`, or `Referer`, names another host than its `Host`), 401 without a digest
//! identity, 503 when the server has no plain client port (TLS only; the page says so), 413
//! for a form over [`forms::MAX_BODY`] or data over [`forms::MAX_DATA`]. Every attempt is
//! logged (`browser write`, at info) with the user name, the op, the path, the version and
//! the result. A done write answers 303 to the node's page (the parent's after a delete);
//! a refused one a page that says why (BadVersion, NoAuth, NodeExists, NotEmpty, ...).

pub(crate) mod access;
mod data_view;
mod forms;
mod html;
mod page;
mod search;
mod session;
mod url;
pub(crate) mod write;

use std::sync::Arc;

use axum::body::Body;
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::middleware;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{extract::State, Router};

use super::auth::Refusal;
use super::listener::Transport;
use super::AdminState;
use crate::tree::DataTree;
use access::Viewer;
use data_view::View;
use forms::{Form, Writes};
use html::{error_page, Html};
use page::{NodeExtras, NodeQuery, DEFAULT_LIMIT, MAX_LIMIT};
use url::QueryParams;
use write::{Outcome, WriteOp};

type Shared = Arc<AdminState>;

/// A response, or the error page to send instead.
type Answer = Result<Response, Response>;

const SCRIPT: &str = include_str!("assets/browse.js");
const STYLE: &str = include_str!("assets/browse.css");

/// The Content-Security-Policy of every answer: this server's script and style sheet only.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                   connect-src 'self'; form-action 'self'; base-uri 'none'; \
                   frame-ancestors 'none'";

/// The browser's routes, nested under `/browse`.
pub fn router() -> Router<Shared> {
    Router::new()
        .route("/", get(index))
        .route("/{*rest}", get(by_url))
        // GET shows a node that happens to have such a path.
        .route("/_write/{op}", get(by_url).post(write_form))
        .fallback(|| async { not_found_page() })
        .layer(middleware::map_response(protect))
}

/// Headers every browser answer carries.
async fn protect(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        // `same-origin`, not `no-referrer`: a form posted under `no-referrer` sends
        // `Origin: null`, and the writes check the Origin.
        HeaderValue::from_static("same-origin"),
    );
    // Pages show live state: never from a cache.
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

fn html_response(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}

fn bad_request(message: &str) -> Response {
    html_response(
        StatusCode::BAD_REQUEST,
        error_page("Bad request", message, &Html::new()),
    )
}

fn not_found_page() -> Response {
    html_response(
        StatusCode::NOT_FOUND,
        error_page("Not found", "There is no such page.", &Html::new()),
    )
}

fn not_serving() -> Response {
    html_response(
        StatusCode::SERVICE_UNAVAILABLE,
        error_page(
            "Not serving",
            "This server does not serve clients right now (an ensemble member in leader \
             election or catching up with the leader, or a server stopping), so there is no \
             tree to show. Try again shortly.",
            &Html::new(),
        ),
    )
}

/// The page for a request without the identities it needs.
fn refused(refusal: Refusal) -> Response {
    let message = match refusal {
        Refusal::Missing => {
            "admin.auth.required is set: send an Authorization header (digest user:password)              whose identity may read /."
        }
        Refusal::NotAuthenticated => {
            "The Authorization header names no identity this server can check (use digest              user:password)."
        }
        Refusal::NotAuthorized => "That identity may not read /.",
    };
    html_response(
        refusal.status(),
        error_page(refusal.message(), message, &Html::new()),
    )
}

/// The request's identities, or why it has none.
fn viewer(state: &AdminState, request: &Parts) -> Result<Viewer, Refusal> {
    let transport = request.extensions.get::<Transport>();
    let certificate_ids = transport.map_or(&[][..], |t| &t.certificate_ids[..]);
    let viewer = Viewer::of_request(
        &request.headers,
        transport.map(|t| t.peer),
        state.super_digest.as_deref(),
        state.settings.auth_required && certificate_ids.is_empty(),
    )?;
    Ok(viewer.with_certificate_ids(certificate_ids))
}

/// The committed tree and its zxid, or the 503 page; with `admin.auth.required`, the 403
/// page unless the viewer may read `/`.
async fn read_tree(state: &AdminState, viewer: &Viewer) -> Result<(i64, DataTree), Response> {
    let Some((zxid, tree)) = state.link.tree().await else {
        return Err(not_serving());
    };
    if state.settings.auth_required {
        viewer.check_root(&tree).map_err(refused)?;
    }
    Ok((zxid, tree))
}

/// Runs page rendering on a blocking thread (a large page takes milliseconds).
async fn render(work: impl FnOnce() -> Response + Send + 'static) -> Response {
    match tokio::task::spawn_blocking(work).await {
        Ok(response) => response,
        Err(_) => html_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            error_page(
                "Internal error",
                "The page could not be made.",
                &Html::new(),
            ),
        ),
    }
}

fn settle(answer: Answer) -> Response {
    answer.unwrap_or_else(|refusal| refusal)
}

/// `/browse`: the root's page, or a search, a session, or a path typed whole.
async fn index(State(state): State<Shared>, request: Parts) -> Response {
    settle(index_answer(&state, &request).await)
}

async fn index_answer(state: &AdminState, request: &Parts) -> Answer {
    let params = QueryParams::parse(request.uri.query()).map_err(|e| bad_request(&e))?;
    let viewer = viewer(state, request).map_err(refused)?;
    if let Some(text) = params.get("search") {
        return search_answer(state, &viewer, text, &params).await;
    }
    if let Some(id) = params.get("session") {
        return session_answer(state, &viewer, id).await;
    }
    if let Some(typed) = params.get("path") {
        let path = typed_path(typed);
        url::check_znode_path(&path).map_err(|e| bad_request(&e))?;
        let canonical = url::node_url(&path, &[]);
        // Only the path itself: send the browser to the page's own address, unless that
        // address is this one (a node shadowed by an asset's URL).
        if params.only("path") && !canonical.starts_with("/browse?") {
            return Ok(Redirect::to(&canonical).into_response());
        }
        return node_answer(state, &viewer, path, &params).await;
    }
    node_answer(state, &viewer, "/".to_owned(), &params).await
}

/// A path as typed in the "go to" box: blanks trimmed, `/` added in front and a trailing one
/// dropped.
fn typed_path(typed: &str) -> String {
    let typed = typed.trim();
    let mut path = if typed.starts_with('/') {
        typed.to_owned()
    } else {
        format!("/{typed}")
    };
    if path.len() > 1 && path.ends_with('/') {
        path.pop();
    }
    path
}

/// `/browse/{*path}`: an asset, or a node's page.
async fn by_url(State(state): State<Shared>, request: Parts) -> Response {
    let uri: &Uri = &request.uri;
    if let Some(asset) = asset(uri.path()) {
        return asset;
    }
    let answer = async {
        let path = url::znode_path(uri.path()).map_err(|e| bad_request(&e))?;
        let params = QueryParams::parse(uri.query()).map_err(|e| bad_request(&e))?;
        let viewer = viewer(&state, &request).map_err(refused)?;
        node_answer(&state, &viewer, path, &params).await
    };
    settle(answer.await)
}

fn asset(url_path: &str) -> Option<Response> {
    let file = url_path.strip_prefix('/')?.strip_prefix(url::ASSETS_DIR)?;
    let (body, content_type) = match file {
        "/browse.js" => (SCRIPT, "text/javascript; charset=utf-8"),
        "/browse.css" => (STYLE, "text/css; charset=utf-8"),
        _ => return None,
    };
    Some(
        (
            [
                (header::CONTENT_TYPE, content_type),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            body,
        )
            .into_response(),
    )
}

/// A node's page, its data (`raw=1`) or its children fragment (`part=children`).
async fn node_answer(
    state: &AdminState,
    viewer: &Viewer,
    path: String,
    params: &QueryParams,
) -> Answer {
    let offset = params
        .count("offset")
        .map_err(|e| bad_request(&e))?
        .unwrap_or(0);
    let limit = params
        .count("limit")
        .map_err(|e| bad_request(&e))?
        .unwrap_or(DEFAULT_LIMIT)
        .clamp(1, MAX_LIMIT);
    let view = match params.get("view").filter(|v| !v.is_empty()) {
        None => None,
        Some(name) => Some(View::parse(name).ok_or_else(|| {
            bad_request(&format!("unknown view {name:?}: text, json, hex or base64"))
        })?),
    };
    let raw = matches!(params.get("raw"), Some("1" | "true"));
    let fragment = match params.get("part") {
        None => false,
        Some("children") => true,
        Some(other) => return Err(bad_request(&format!("unknown part {other:?}"))),
    };
    let (zxid, tree) = read_tree(state, viewer).await?;
    let Some(node) = tree.node(&path) else {
        if fragment {
            return Err(html_response(
                StatusCode::NOT_FOUND,
                "<p class=\"note\">This node no longer exists.</p>".to_owned(),
            ));
        }
        return Err(render(move || {
            html_response(StatusCode::NOT_FOUND, page::missing_page(&tree, &path))
        })
        .await);
    };
    if (raw || fragment) && !viewer.may_read(&tree, node) {
        let message = format!(
            "The ACL of {path} does not let {} read it.",
            viewer.describe()
        );
        return Err(html_response(
            StatusCode::FORBIDDEN,
            error_page("Not allowed", &message, &Html::new()),
        ));
    }
    if raw {
        return Ok(download(&path, node.data.clone().unwrap_or_default()));
    }
    if fragment {
        return Ok(render(move || {
            let node = tree.node(&path).expect("checked above");
            let body = page::children_fragment(&tree, &path, node, offset, limit);
            html_response(StatusCode::OK, body)
        })
        .await);
    }
    let watchers = state.link.watchers(&path).await.unwrap_or_default();
    let extras = NodeExtras {
        zxid,
        watchers,
        writes: match (state.settings.browser_writable, state.client_addr) {
            (false, _) => Writes::Off,
            (true, None) => Writes::Unavailable,
            (true, Some(_)) => Writes::On(viewer.digest_user().map(str::to_owned)),
        },
        viewer: viewer.clone(),
    };
    let query = NodeQuery {
        offset,
        limit,
        view,
    };
    Ok(render(move || {
        let node = tree.node(&path).expect("checked above");
        let body = page::node_page(&tree, &path, node, query, &extras);
        html_response(StatusCode::OK, body)
    })
    .await)
}

/// `POST /browse/_write/{op}`: a write from a node page's form.
async fn write_form(State(state): State<Shared>, request: axum::extract::Request) -> Response {
    let (parts, body) = request.into_parts();
    settle(write_answer(&state, parts, body).await)
}

/// A write refused before the browser opens a session; logged like the others, with the
/// user name of the request's digest identity when it has one.
fn write_refused(
    parts: &Parts,
    op: &str,
    status: StatusCode,
    heading: &str,
    message: &str,
) -> Response {
    let user = access::digest_credentials(&parts.headers).map(access::user_of);
    let peer = parts.extensions.get::<Transport>().map(|t| t.peer);
    tracing::info!(
        user = user.unwrap_or("-"),
        op,
        status = status.as_u16(),
        reason = heading,
        peer = ?peer,
        "browser write refused"
    );
    html_response(status, error_page(heading, message, &Html::new()))
}

async fn write_answer(state: &AdminState, parts: Parts, body: Body) -> Answer {
    let op_name = parts
        .uri
        .path()
        .strip_prefix(&format!("/{}/", forms::WRITE_DIR))
        .unwrap_or("")
        .to_owned();
    if !state.settings.browser_writable {
        return Err(write_refused(
            &parts,
            &op_name,
            StatusCode::FORBIDDEN,
            "Writes are off",
            "This server's tree browser is read-only (admin.browser.writable is not set).",
        ));
    }
    let Some(client_addr) = state.client_addr else {
        return Err(write_refused(
            &parts,
            &op_name,
            StatusCode::SERVICE_UNAVAILABLE,
            "Writes are not available",
            "This server has no plain client port for the browser to write through (it \
             serves clients over TLS only).",
        ));
    };
    forms::same_origin(&parts.headers).map_err(|why| {
        write_refused(
            &parts,
            &op_name,
            StatusCode::FORBIDDEN,
            "Cross-site write refused",
            &format!("This write does not come from a page of this server: {why}."),
        )
    })?;
    let form_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    if form_type.as_deref() != Some("application/x-www-form-urlencoded") {
        return Err(write_refused(
            &parts,
            &op_name,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Not a form",
            "A write is a form post (Content-Type: application/x-www-form-urlencoded).",
        ));
    }
    let Some(user_password) = access::digest_credentials(&parts.headers) else {
        return Err(write_refused(
            &parts,
            &op_name,
            StatusCode::UNAUTHORIZED,
            "Who is writing?",
            "A write runs as the digest identity of an Authorization: digest user:password \
             header, and the node's ACL decides whether that identity may make it. This \
             request has no such header.",
        ));
    };
    let viewer = viewer(state, &parts).map_err(refused)?;
    let body = axum::body::to_bytes(body, forms::MAX_BODY)
        .await
        .map_err(|_| {
            write_refused(
                &parts,
                &op_name,
                StatusCode::PAYLOAD_TOO_LARGE,
                "Too large",
                &format!("The form is over {} bytes.", forms::MAX_BODY),
            )
        })?;
    let form = Form::parse(&op_name, &body).map_err(|e| {
        let status = if e.contains("over") {
            StatusCode::PAYLOAD_TOO_LARGE
        } else {
            StatusCode::BAD_REQUEST
        };
        write_refused(&parts, &op_name, status, "Bad request", &e)
    })?;
    let (_, tree) = read_tree(state, &viewer).await?;
    let digest_id = crate::acl::digest_id(user_password);
    let mut ids = vec![zk_proto::data::Id::new("digest", digest_id.clone())];
    if state.super_digest.as_deref() == Some(digest_id.as_str()) {
        ids.push(zk_proto::data::Id::new("super", ""));
    }
    // The ACL of the node the server checks, for these identities alone (a missing node is
    // left to the server, which answers NoNode).
    let acl = tree.node(form.acl_node()).map(|node| tree.acl(node));
    let allowed = acl
        .as_deref()
        .is_none_or(|acl| crate::acl::check(acl, form.perm(), &ids).is_ok());
    let user = access::user_of(user_password).to_owned();
    let back = match &form {
        Form::Create { parent, .. } => parent.clone(),
        Form::Set { path, .. } | Form::Delete { path, .. } => path.clone(),
    };
    let op = form.into_op(acl.as_deref().unwrap_or_default(), &digest_id);
    let outcome = if allowed {
        write::run(client_addr, user_password, &op).await
    } else {
        Outcome::Refused(zk_proto::ErrorCode::NoAuth)
    };
    let peer = parts.extensions.get::<Transport>().map(|t| t.peer);
    log_write(&user, &op, peer, &outcome);
    match outcome {
        Outcome::Done { path, .. } => {
            let target = match op {
                WriteOp::Delete { .. } => forms::parent_of(&path).to_owned(),
                _ => path,
            };
            Ok(Redirect::to(&url::node_url(&target, &[])).into_response())
        }
        Outcome::Refused(code) => {
            use zk_proto::ErrorCode as E;
            let status = match code {
                E::NoAuth | E::AuthFailed => StatusCode::FORBIDDEN,
                E::NoNode => StatusCode::NOT_FOUND,
                E::NodeExists
                | E::BadVersion
                | E::NotEmpty
                | E::QuotaExceeded
                | E::NoChildrenForEphemerals => StatusCode::CONFLICT,
                E::BadArguments | E::InvalidAcl | E::Unimplemented => StatusCode::BAD_REQUEST,
                E::ThrottledOp | E::NotReadOnly => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::BAD_GATEWAY,
            };
            let message = format!(
                "{} The write was a {} of {} as digest:{user}.",
                write::explain(code, op.name()),
                op.name(),
                op.path()
            );
            Err(html_response(
                status,
                error_page(
                    &format!("Not written: {code:?}"),
                    &message,
                    &back_link(&back),
                ),
            ))
        }
        Outcome::Failed(why) => Err(html_response(
            StatusCode::BAD_GATEWAY,
            error_page(
                "Write failed",
                &format!("The browser's session on the client port failed: {why}."),
                &back_link(&back),
            ),
        )),
    }
}

/// "Back to the node" after a refused write.
fn back_link(path: &str) -> Html {
    let mut extra = Html::new();
    extra
        .raw("<p>Back to <a class=\"back\"")
        .attr("href", &url::node_url(path, &[]))
        .raw(">")
        .text(path)
        .raw("</a> (reloaded: its current data and version).</p>");
    extra
}

/// Logs a write attempt: who (the user name, never the password), what and how it ended
/// (for a done write, the node written and the browser's session; for a failed one, why).
fn log_write(user: &str, op: &WriteOp, peer: Option<std::net::SocketAddr>, outcome: &Outcome) {
    let version = op
        .version()
        .map_or_else(|| "-".to_owned(), |v| v.to_string());
    let detail = match outcome {
        Outcome::Done { path, session } => {
            format!("{path}, session {}", html::zxid_hex(*session))
        }
        Outcome::Refused(code) => code.code().to_string(),
        Outcome::Failed(why) => why.clone(),
    };
    tracing::info!(
        user,
        op = op.name(),
        path = op.path(),
        version,
        result = outcome.code_name(),
        detail,
        peer = ?peer,
        "browser write"
    );
}

/// The data as a file: `application/octet-stream`, named after the node.
fn download(path: &str, data: bytes::Bytes) -> Response {
    let name: String = path
        .rsplit('/')
        .next()
        .filter(|n| !n.is_empty())
        .unwrap_or("root")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let disposition = format!("attachment; filename=\"{name}\"");
    let mut response = Body::from(data).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    response
}

async fn search_answer(
    state: &AdminState,
    viewer: &Viewer,
    text: &str,
    params: &QueryParams,
) -> Answer {
    if text.len() > search::MAX_PATTERN {
        return Err(bad_request(&format!(
            "the search pattern is longer than {} bytes",
            search::MAX_PATTERN
        )));
    }
    let under = typed_path(params.get("under").unwrap_or("/"));
    url::check_znode_path(&under).map_err(|e| bad_request(&e))?;
    let (zxid, tree) = read_tree(state, viewer).await?;
    let text = text.to_owned();
    let viewer = viewer.clone();
    Ok(render(move || {
        if tree.node(&under).is_none() {
            return html_response(StatusCode::NOT_FOUND, page::missing_page(&tree, &under));
        }
        let found = (!text.is_empty()).then(|| {
            let pattern = search::Pattern::new(&text);
            search::walk(&tree, &under, &pattern, &viewer)
        });
        let body = search::search_page(&tree, zxid, &text, &under, found.as_ref());
        html_response(StatusCode::OK, body)
    })
    .await)
}

async fn session_answer(state: &AdminState, viewer: &Viewer, id: &str) -> Answer {
    let session = session::parse_session_id(id)
        .ok_or_else(|| bad_request(&format!("{id:?} is not a session id")))?;
    let (zxid, tree) = read_tree(state, viewer).await?;
    let connections = state.link.snapshot().await.map(|snap| {
        snap.connections
            .into_iter()
            .filter(|c| c.session_id == session)
            .collect::<Vec<_>>()
    });
    Ok(render(move || {
        let body = session::session_page(&tree, zxid, session, connections.as_deref());
        html_response(StatusCode::OK, body)
    })
    .await)
}

#[cfg(test)]
mod tests;
