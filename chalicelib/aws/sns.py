"""SNS adapter: a message to a topic."""

from chalicelib.aws.clients import client


def publish(topic_arn: str, subject: str, message: str, attributes: dict[str, str]) -> str:
    """Send the message with string attributes; its MessageId."""
    return client("sns").publish(
        TopicArn=topic_arn, Subject=subject, Message=message,
        MessageAttributes={name: {"DataType": "String", "StringValue": value} for name, value in attributes.items()},
    )["MessageId"]
