"""The webhook outbox: a delivery row written with the call's final state, its attempts, and what is due."""

import uuid
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from pipeline.service.database import (
    ApiKey,
    Call,
    WebhookAttempt,
    WebhookDelivery,
    utcnow,
)

WEBHOOK_FALLBACK_S = 120.0


class WebhookOutbox:
    """Webhook deliveries queued in the same transaction as a call's final state, and their attempts."""

    sessions: sessionmaker

    def _queue_webhook(self, session: Session, call: Call, status: str) -> list[str]:
        return self._queue_event(session, call, f"call.{status}", {})

    def _queue_event(self, session: Session, call: Call, event: str, payload: dict) -> list[str]:
        """A delivery of `event` about `call` to the key that pushed it, if it has a webhook URL. A call's own
        events (call.done, call.failed) are summarised when sent; others carry `payload`, fixed now."""
        if call.pushed_by is None:
            return []
        key = session.get(ApiKey, call.pushed_by)
        if key is None or not key.webhook_url:
            return []
        delivery = WebhookDelivery(
            id=str(uuid.uuid4()),
            call_id=call.id,
            key_id=key.id,
            event=event,
            url=key.webhook_url,
            payload=payload,
            state="pending",
            attempts=0,
            # sent at once by the finishing job; if that message is lost, the sweeper sends it from then on
            next_attempt_at=utcnow() + timedelta(seconds=WEBHOOK_FALLBACK_S),
        )
        session.add(delivery)
        return [delivery.id]

    def delivery(self, delivery_id: str) -> tuple[WebhookDelivery, str | None] | None:
        """A delivery and its client's signing secret."""
        with self.sessions() as session:
            delivery = session.get(WebhookDelivery, delivery_id)
            if delivery is None:
                return None
            key = session.get(ApiKey, delivery.key_id)
            return delivery, key.webhook_secret if key else None

    def record_attempt(self, delivery_id: str, attempt, next_attempt_at: datetime | None, give_up: bool) -> None:
        """Log one attempt (`pipeline.service.webhooks.DeliveryAttempt`) and move the delivery on."""
        with self.sessions.begin() as session:
            delivery = session.get(WebhookDelivery, delivery_id)
            if delivery is None:
                return
            session.add(
                WebhookAttempt(
                    delivery_id=delivery_id,
                    attempt=attempt.attempt,
                    status_code=attempt.status_code,
                    error=attempt.error,
                    duration_s=attempt.duration_s,
                    delivered=attempt.delivered,
                )
            )
            delivery.attempts = attempt.attempt
            delivery.last_status_code = attempt.status_code
            delivery.last_error = attempt.error
            if attempt.delivered:
                delivery.state, delivery.delivered_at, delivery.next_attempt_at = "delivered", utcnow(), None
            elif give_up:
                delivery.state, delivery.next_attempt_at = "failed", None
            else:
                delivery.next_attempt_at = next_attempt_at

    def due_deliveries(self, now: datetime | None = None) -> list[str]:
        with self.sessions() as session:
            return list(
                session.scalars(
                    select(WebhookDelivery.id).where(
                        WebhookDelivery.state == "pending", WebhookDelivery.next_attempt_at <= (now or utcnow())
                    )
                )
            )

    def webhook_log(self, call_id: str) -> list[tuple[WebhookDelivery, list[WebhookAttempt]]]:
        with self.sessions() as session:
            deliveries = session.scalars(select(WebhookDelivery).where(WebhookDelivery.call_id == call_id)).all()
            return [
                (
                    delivery,
                    list(
                        session.scalars(
                            select(WebhookAttempt)
                            .where(WebhookAttempt.delivery_id == delivery.id)
                            .order_by(WebhookAttempt.attempt)
                        )
                    ),
                )
                for delivery in deliveries
            ]
