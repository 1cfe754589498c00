//! `bioid.services.v1.BioIDWebService` over the job queue: `LivenessDetection` goes the path a
//! REST request goes ([`dispatch`]); the calls this service does not offer answer UNIMPLEMENTED.

use std::sync::Arc;

use tonic::{Request, Response, Status};
use tracing::{Instrument, info, info_span};

use super::convert;
use super::proto;
use crate::gateway::AppState;
use crate::gateway::dispatch::{self, Ticket};
use crate::queue::broker::header;

pub struct BwsService {
    state: Arc<AppState>,
}

impl BwsService {
    pub fn new(state: Arc<AppState>) -> BwsService {
        BwsService { state }
    }
}

/// A text metadata entry of the request (gRPC metadata keys are lower case on the wire;
/// BioID's clients write `Authorization` and `Reference-Number`, which arrive as these).
fn text<'a, T>(request: &'a Request<T>, name: &str) -> Option<&'a str> {
    request.metadata().get(name).and_then(|v| v.to_str().ok())
}

#[tonic::async_trait]
impl proto::BioIdWebService for BwsService {
    async fn liveness_detection(
        &self,
        request: Request<proto::LivenessDetectionRequest>,
    ) -> Result<Response<proto::LivenessDetectionResponse>, Status> {
        let ticket = Ticket::new(text(&request, header::REFERENCE_NUMBER));
        let authorization = text(&request, header::AUTHORIZATION).map(str::to_string);
        let span = info_span!(
            "grpc",
            jobid = %ticket.job_id,
            reference_number = ticket.reference_number.as_deref().unwrap_or(""),
        );
        let state = &self.state;
        async {
            let outcome = match dispatch::authorize(state, authorization.as_deref()) {
                Err(refusal) => Err(refusal),
                Ok(()) => {
                    let body = convert::job_body(request.into_inner())?;
                    dispatch::run(state, &ticket, &body, authorization.as_deref()).await
                }
            };
            let answer = match outcome {
                Ok(reply) => convert::reply(&ticket, reply),
                Err(refusal) => {
                    info!(code = refusal.code.name(), message = %refusal.message, "refused");
                    Err(convert::status(
                        &ticket,
                        None,
                        convert::code(refusal.code),
                        refusal.message,
                    ))
                }
            };
            match &answer {
                Ok(_) => info!(code = "OK", "answered"),
                Err(s) => info!(code = ?s.code(), "answered"),
            }
            answer
        }
        .instrument(span)
        .await
    }

    async fn video_liveness_detection(
        &self,
        _request: Request<proto::VideoLivenessDetectionRequest>,
    ) -> Result<Response<proto::LivenessDetectionResponse>, Status> {
        Err(Status::unimplemented(
            "VideoLivenessDetection is not offered by this service; send one or two images \
             to LivenessDetection instead",
        ))
    }

    async fn photo_verify(
        &self,
        _request: Request<proto::PhotoVerifyRequest>,
    ) -> Result<Response<proto::PhotoVerifyResponse>, Status> {
        Err(Status::unimplemented(
            "PhotoVerify is not offered by this service (it does liveness detection only)",
        ))
    }
}
