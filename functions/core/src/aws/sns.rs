//! SNS: one message per experiment, with attributes subscribers can filter on.

use aws_sdk_sns::types::MessageAttributeValue;

use super::AwsError;

/// Publishes `subject` / `body` with String message attributes; returns the message id.
pub async fn publish(
    client: &aws_sdk_sns::Client,
    topic_arn: &str,
    subject: &str,
    body: &str,
    attributes: &[(&str, &str)],
) -> Result<String, AwsError> {
    let mut req = client
        .publish()
        .topic_arn(topic_arn)
        .subject(subject)
        .message(body);
    for (k, v) in attributes {
        let value = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(*v)
            .build()
            .map_err(|e| AwsError::new("Publish", e))?;
        req = req.message_attributes(*k, value);
    }
    let out = req.send().await.map_err(|e| AwsError::new("Publish", e))?;
    Ok(out.message_id.unwrap_or_default())
}
