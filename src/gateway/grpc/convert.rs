//! Between the gRPC messages and the queue's wire contract. A gRPC request becomes the same
//! job body as a REST request (the BWS JSON, images in base64, since `ImageData.image` carries
//! the raw file over gRPC); a worker's result becomes the gRPC response or status. No image is
//! looked at here: the worker checks and decodes them, as for REST.

use base64::Engine as _;
use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::{Code, Status};

use super::proto;
use crate::api;
use crate::gateway::dispatch::Ticket;
use crate::queue::broker::Reply;

/// The job body of a gRPC request: what a REST client would have sent (camelCase JSON).
pub fn job_body(request: proto::LivenessDetectionRequest) -> Result<Vec<u8>, Status> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let json = api::LivenessDetectionRequest {
        live_images: request
            .live_images
            .into_iter()
            .map(|i| api::ImageData {
                image: b64.encode(i.image),
                tags: i.tags,
            })
            .collect(),
    };
    serde_json::to_vec(&json)
        .map_err(|e| Status::internal(format!("cannot write the job body: {e}")))
}

/// The gRPC code of a BWS status.
pub fn code(status: api::StatusCode) -> Code {
    match status {
        api::StatusCode::InvalidArgument => Code::InvalidArgument,
        api::StatusCode::Unauthenticated => Code::Unauthenticated,
        api::StatusCode::DeadlineExceeded => Code::DeadlineExceeded,
        api::StatusCode::Internal => Code::Internal,
        api::StatusCode::Unavailable => Code::Unavailable,
    }
}

/// The gRPC code of a worker's non-200 result: by the body's `code` name, else by the HTTP
/// status the wire contract gives each.
fn result_code(status: u16, name: Option<&str>) -> Code {
    let by_name = match name {
        Some("InvalidArgument") => Some(Code::InvalidArgument),
        Some("Unauthenticated") => Some(Code::Unauthenticated),
        Some("DeadlineExceeded") => Some(Code::DeadlineExceeded),
        Some("Internal") => Some(Code::Internal),
        Some("Unavailable") => Some(Code::Unavailable),
        _ => None,
    };
    by_name.unwrap_or(match status {
        400 | 413 => Code::InvalidArgument,
        401 => Code::Unauthenticated,
        408 => Code::DeadlineExceeded,
        503 => Code::Unavailable,
        _ => Code::Internal,
    })
}

/// BWS's response metadata ([`Ticket::bws_headers`]).
pub fn metadata(ticket: &Ticket, reply: Option<&Reply>) -> MetadataMap {
    let mut md = MetadataMap::new();
    for (name, value) in ticket.bws_headers(reply) {
        if let Ok(v) = MetadataValue::try_from(value.as_str()) {
            md.insert(name, v);
        }
    }
    md
}

/// A refusal or failed result as a gRPC status carrying the BWS metadata (sent as trailers,
/// so `jobid` is there too).
pub fn status(ticket: &Ticket, reply: Option<&Reply>, code: Code, message: String) -> Status {
    Status::with_metadata(code, message, metadata(ticket, reply))
}

/// A worker's result as the gRPC answer.
pub fn reply(
    ticket: &Ticket,
    reply: Reply,
) -> Result<tonic::Response<proto::LivenessDetectionResponse>, Status> {
    if reply.status != 200 {
        let body: Option<api::ErrorBody> = serde_json::from_slice(&reply.body).ok();
        let code = result_code(reply.status, body.as_ref().map(|b| b.code.as_str()));
        let message = body.map_or_else(
            || format!("the worker answered status {}", reply.status),
            |b| b.message,
        );
        return Err(status(ticket, Some(&reply), code, message));
    }
    let scored: api::LivenessDetectionResponse =
        serde_json::from_slice(&reply.body).map_err(|e| {
            status(
                ticket,
                Some(&reply),
                Code::Internal,
                format!("the worker's result is not a LivenessDetection response: {e}"),
            )
        })?;
    let mut response = tonic::Response::new(response(scored));
    *response.metadata_mut() = metadata(ticket, Some(&reply));
    Ok(response)
}

fn point(p: api::PointD) -> Option<proto::PointD> {
    Some(proto::PointD { x: p.x, y: p.y })
}

/// The BWS JSON response as the protobuf message: the same fields under the same names.
pub fn response(r: api::LivenessDetectionResponse) -> proto::LivenessDetectionResponse {
    let status = match r.status {
        api::JobStatus::Succeeded => proto::JobStatus::Succeeded,
        api::JobStatus::Faulted => proto::JobStatus::Faulted,
        api::JobStatus::Cancelled => proto::JobStatus::Cancelled,
    };
    proto::LivenessDetectionResponse {
        status: status as i32,
        errors: r
            .errors
            .into_iter()
            .map(|e| proto::JobError {
                error_code: e.error_code,
                message: e.message,
            })
            .collect(),
        image_properties: r
            .image_properties
            .into_iter()
            .map(|p| proto::ImageProperties {
                rotated: p.rotated,
                faces: p
                    .faces
                    .into_iter()
                    .map(|f| proto::Face {
                        left_eye: point(f.left_eye),
                        right_eye: point(f.right_eye),
                        texture_liveness_score: f.texture_liveness_score,
                        motion_liveness_score: f.motion_liveness_score,
                        movement_direction: f.movement_direction,
                    })
                    .collect(),
                quality_score: p.quality_score,
                quality_assessments: p
                    .quality_assessments
                    .into_iter()
                    .map(|q| proto::QualityAssessment {
                        check: q.check,
                        score: q.score,
                        message: q.message,
                    })
                    .collect(),
                frame_number: p.frame_number,
            })
            .collect(),
        live: r.live,
        liveness_score: r.liveness_score,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grpc_request_becomes_the_rest_job_body() {
        let request = proto::LivenessDetectionRequest {
            live_images: vec![
                proto::ImageData {
                    image: b"first".to_vec(),
                    tags: vec![],
                },
                proto::ImageData {
                    image: vec![0, 255, 7],
                    tags: vec!["right".into()],
                },
            ],
        };
        let body = job_body(request).unwrap();
        let read: api::LivenessDetectionRequest = serde_json::from_slice(&body).unwrap();
        assert_eq!(read.live_images[0].image, "Zmlyc3Q=");
        assert_eq!(read.live_images[1].image, "AP8H");
        assert_eq!(read.live_images[1].tags, ["right"]);
        crate::gateway::validate::check(&body).unwrap();
    }

    #[test]
    fn result_statuses_map_to_grpc_codes() {
        assert_eq!(
            result_code(400, Some("InvalidArgument")),
            Code::InvalidArgument
        );
        assert_eq!(result_code(401, None), Code::Unauthenticated);
        assert_eq!(result_code(408, None), Code::DeadlineExceeded);
        assert_eq!(result_code(503, None), Code::Unavailable);
        assert_eq!(result_code(500, None), Code::Internal);
        assert_eq!(result_code(0, None), Code::Internal);
        for c in [
            api::StatusCode::InvalidArgument,
            api::StatusCode::Unauthenticated,
            api::StatusCode::DeadlineExceeded,
            api::StatusCode::Internal,
            api::StatusCode::Unavailable,
        ] {
            assert_eq!(result_code(c.http(), Some(c.name())), code(c));
        }
    }
}
