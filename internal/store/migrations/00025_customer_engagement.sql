-- +goose Up

-- What the providers reported back about a customer's messages, for
-- conditions and audiences (customer.engagement): when each kind of event
-- last (or first) happened, and a few counts. One row per customer who
-- has any, written with the webhook_events row of the event that changed
-- it (Store.RecordWebhook), so a repeated delivery counts once. Opens are
-- those of a person: SendGrid's machine opens (Apple Mail Privacy
-- Protection fetching images) are kept apart and are no engagement.
CREATE TABLE customer_engagement (
    customer_id                text PRIMARY KEY,
    email_first_sent_at        timestamptz, -- SendGrid processed or delivered
    email_last_delivered_at    timestamptz,
    email_last_open_at         timestamptz, -- a person's open
    email_last_machine_open_at timestamptz,
    email_last_click_at        timestamptz,
    email_last_bounce_at       timestamptz, -- a hard bounce
    email_bounces              integer NOT NULL DEFAULT 0,
    email_last_spam_report_at  timestamptz,
    email_spam_reports         integer NOT NULL DEFAULT 0,
    sms_last_delivered_at      timestamptz,
    sms_last_reply_at          timestamptz,
    mail_last_delivered_at     timestamptz,
    mail_last_returned_at      timestamptz,
    mail_returns               integer NOT NULL DEFAULT 0,
    updated_at                 timestamptz NOT NULL DEFAULT now()
);

-- Counts per customer and UTC day, for the rolling 30-day counts
-- (opens_30d...): a day outside the last 30 is deleted when the customer's
-- next event is written, so a customer has at most 30 rows here.
CREATE TABLE customer_engagement_days (
    customer_id         text NOT NULL,
    day                 date NOT NULL,
    email_opens         integer NOT NULL DEFAULT 0,
    email_machine_opens integer NOT NULL DEFAULT 0,
    email_clicks        integer NOT NULL DEFAULT 0,
    sms_replies         integer NOT NULL DEFAULT 0,
    PRIMARY KEY (customer_id, day)
);

-- +goose Down
DROP TABLE customer_engagement_days;
DROP TABLE customer_engagement;
