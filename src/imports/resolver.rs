//! `importLeads`: take the uploaded file, call the import service.

use super::types::{ImportLeadsOptions, ImportLeadsReport};
use crate::auth::policy::{self, Capability};
use crate::error::AppError;
use crate::graphql::error::ApiResult;
use crate::graphql::{state, viewer};
use async_graphql::{Context, Object, Upload};

#[derive(Default)]
pub struct ImportMutation;

#[Object]
impl ImportMutation {
    /// Import leads from a CSV file sent as a multipart upload (the GraphQL
    /// multipart request spec; docs/import-export.md). MARKETING and ADMIN.
    /// The header names the columns (aliases such as `E-mail` or
    /// `First name` are understood; `options.mapping` overrides them).
    /// Bad rows are reported by line and the others imported, in chunks of
    /// one transaction each. A file that cannot be read at all (no email
    /// column, say) is `BAD_USER_INPUT` and changes nothing.
    async fn import_leads(
        &self,
        ctx: &Context<'_>,
        file: Upload,
        options: Option<ImportLeadsOptions>,
    ) -> ApiResult<ImportLeadsReport> {
        let viewer = viewer(ctx)?;
        policy::require(viewer, Capability::ImportLeads)?;
        let options = options.unwrap_or_default().into_domain("options.")?;
        let upload = file
            .value(ctx)
            .map_err(|err| AppError::bad_input("file", format!("no file was uploaded: {err}")))?;
        let report = super::service::import_leads(
            viewer,
            &state(ctx).db,
            upload.content,
            &options,
            &mut |_| {},
        )
        .await?;
        Ok(report.into())
    }
}
