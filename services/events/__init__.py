"""Events out: a transactional outbox of CloudEvents 1.0, sequenced in commit order, delivered to webhooks and a pull feed."""
