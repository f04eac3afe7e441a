//! `/service/rest/v1/formats`: the formats this build has.

use actix_web::web;
use trove_service::{FormatView, Service};

use super::{ApiError, Caller};

pub(super) async fn list(
    svc: web::Data<Service>,
    caller: Caller,
) -> Result<web::Json<Vec<FormatView>>, ApiError> {
    Ok(web::Json(svc.formats(&caller)))
}
