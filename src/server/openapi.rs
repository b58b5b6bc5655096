//! `GET /api/v1/openapi.json`: the OpenAPI 3 document, generated with utoipa
//! from the handlers' `#[utoipa::path]` annotations and the model's
//! `ToSchema` derives, so it cannot drift from the code silently (a test checks
//! that every route is documented, and CI fuzzes the server against it).

use super::api::*;
use super::error::{ErrorBody, ErrorDetail};
use super::raw::{DeleteAnswer, WriteAnswer};
use super::AppState;
use crate::store::links::{LinkKind, ParseProblem, Resolution, Syntax, Target};
use crate::store::{
    At, Change, ChangeStatus, Collection, CollectionMetadata, CollectionSummary, CollectionVersion,
    CollectionVersionDetail, Diff, DraftRevision, Event, FileEntry, GcReport, History, LinkInfo,
    LinkReport, Linkable, LinkableKind, Malformed, PublishReport, RevertReport, VersionDetail,
    VersionInfo, WriteOutcome,
};
use axum::routing::get;
use axum::{Json, Router};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Blockstore appliance",
        description = "A local, versioned content store for Open edX OLX. Collections of units \
                       and assets, drafts and publish, history, diffs and links. Errors are \
                       {\"error\": {\"code\", \"message\", \"details\"}}; lists are \
                       {count, next, previous, results}. With a token set, every call needs \
                       `Authorization: Bearer TOKEN`."
    ),
    paths(
        index, health, list_collections, create_collection, get_collection,
        update_collection, delete_collection, list_files, file_detail,
        publish, revert, rename, list_versions, version_detail, diff, history,
        links, super::olx::import_named, super::olx::import, super::olx::export, super::olx::outline, unit, asset, unit_versions,
        asset_versions, link, version_by_uuid, gc, seed, list_folders,
        super::raw::read_raw, super::raw::write_raw, super::raw::delete_raw,
        super::events::events, openapi, super::revisions::revision, super::revisions::revision_raw,
        super::revisions::revision_diff, super::revisions::restore,
        super::api::list_named_drafts, super::api::named_draft,
    ),
    components(schemas(
        ApiIndex, ErrorBody, ErrorDetail, Health, Page<CollectionSummary>, Page<FileEntry>, Page<crate::store::ListedFile>, crate::store::ListedFile,
        Page<CollectionVersion>, NewCollection, PublishBody, RevertBody, GcBody, FileDetail,
        DiffAnswer, TextDiff, LinksAnswer, FileLinks, WriteAnswer, DeleteAnswer,
        Collection, CollectionMetadata, CollectionSummary, FileEntry, LinkableKind, At,
        WriteOutcome, VersionInfo, DraftRevision, History, CollectionVersion, ChangeStatus,
        Change, CollectionVersionDetail, Diff, LinkInfo, Malformed, LinkReport, PublishReport,
        RevertReport, Linkable, VersionDetail, GcReport, Event, LinkKind, Target, Resolution, ParseProblem,
        Syntax, crate::olx::ImportReport, crate::store::BatchReport, crate::olx::Outline,
        crate::olx::OutlineNode, crate::olx::OutlineKind, crate::olx::BrokenPointer,
        crate::store::Folder, crate::store::LineStats, crate::store::RenameReport, RenameBody, super::revisions::RevisionDiff, super::revisions::RestoreAnswer, crate::olx::seed::SeedReport, crate::olx::seed::Seeded,
        crate::store::NamedDraft, crate::store::StagedChange, super::api::NamedDraftDetail,
        crate::store::Dependency, crate::store::DependencyRef,
    )),
    modifiers(&BearerToken, &GuardAnswers),
    tags(
        (name = "collections", description = "Collections and their metadata"),
        (name = "files", description = "Units and assets: listing, metadata, raw bytes"),
        (name = "history", description = "Publish, revert, versions, diffs, per-path history"),
        (name = "links", description = "Links between units and assets; broken and orphan reports"),
        (name = "uuids", description = "Units, assets and links by uuid"),
        (name = "archives", description = "OLX archives in and out (.tar.gz, .tar) and the OLX outline"),
        (name = "server", description = "Health, events, gc, this document"),
    )
)]
pub(crate) struct ApiDoc;

struct BearerToken;

impl utoipa::Modify for BearerToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The answers every route can give because of the layers in front of it,
/// added to each operation here rather than repeated in every annotation:
/// the guard's 400 (two `Host` headers) and 403 (another `Host`, or, for a
/// state-changing method, a cross-site page), the 503 of a server at its
/// connection cap, and for writes the 503 of a write that waited too long
/// behind a gc and the 507 of a full disk.
struct GuardAnswers;

impl utoipa::Modify for GuardAnswers {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let error = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build()
        };
        for item in openapi.paths.paths.values_mut() {
            let reads = [&mut item.get, &mut item.head];
            let writes = [
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ];
            for (operation, write) in reads
                .into_iter()
                .map(|o| (o, false))
                .chain(writes.into_iter().map(|o| (o, true)))
            {
                let Some(operation) = operation else { continue };
                let responses = &mut operation.responses.responses;
                responses.entry("400".into()).or_insert_with(|| {
                    error("Bad input: a malformed request, path, parameter or body").into()
                });
                responses.insert(
                    "403".into(),
                    error(if write {
                        "The Host header is not this server (DNS rebinding guard), or a page of \
                         another origin sent this state-changing request (code cross_origin)"
                    } else {
                        "The Host header is not this server (DNS rebinding guard)"
                    })
                    .into(),
                );
                if write {
                    responses.entry("507".into()).or_insert_with(|| {
                        error(
                            "The disk holding the data dir is full (code insufficient_storage; \
                             details.needed when known); nothing was changed",
                        )
                        .into()
                    });
                }
                responses.insert(
                    "503".into(),
                    error(if write {
                        "The store is busy (a gc held it past the lock timeout) or the server \
                         is at its connection limit; Retry-After says when to try again"
                    } else {
                        "The server is at its connection limit; Retry-After says when to try again"
                    })
                    .into(),
                );
            }
        }
    }
}

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route(v1!("/openapi.json"), get(openapi))
}

/// The document, built once.
pub(crate) fn document() -> &'static utoipa::openapi::OpenApi {
    static DOC: std::sync::OnceLock<utoipa::openapi::OpenApi> = std::sync::OnceLock::new();
    DOC.get_or_init(ApiDoc::openapi)
}

#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "server",
    responses(
        (status = 200, description = "This OpenAPI 3 document", content_type = "application/json"),
        (status = 401, description = "A token is set and the request lacks it", body = ErrorBody),
        (status = 403, description = "The Host header is not this server (DNS rebinding guard)", body = ErrorBody),
    ))]
async fn openapi() -> Json<&'static utoipa::openapi::OpenApi> {
    Json(document())
}
