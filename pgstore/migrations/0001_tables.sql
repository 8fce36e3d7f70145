-- booker's PostgreSQL store, schema version 1. See package pgstore's doc
-- for how the tables are locked and why race mode still shows anomalies.

-- One row per event. Its row lock is the event's lock in Lock "event"
-- (SELECT ... FOR UPDATE); Lock "seat" takes it FOR KEY SHARE, which
-- writers of other seats share and an event-mode writer excludes.
CREATE TABLE events (
    id         text PRIMARY KEY,
    capacity   integer NOT NULL CHECK (capacity >= 1),
    created_at timestamptz NOT NULL DEFAULT now()
);

-- One row per seat, made by Create. booking names the live booking that
-- holds the seat, NULL while it is free: the row locked by Lock "seat"
-- and where every mode looks for a free seat. Deliberately no unique
-- constraint elsewhere on live seats: race mode must be able to record
-- two live bookings of one seat (in bookings); locked modes are safe
-- because of the row locks, not because a constraint hides the race.
CREATE TABLE seats (
    event   text    NOT NULL REFERENCES events (id),
    seat    integer NOT NULL CHECK (seat >= 1),
    booking text,
    PRIMARY KEY (event, seat)
);
CREATE INDEX seats_free ON seats (event, seat) WHERE booking IS NULL;

-- Every booking ever made. A cancelled one stays as a tombstone
-- (cancel_rev set), so its id can never be booked again. The primary
-- key makes a booking id unique per event: the id is the idempotency
-- key, and a retry must find it, in race mode too.
CREATE TABLE bookings (
    event      text    NOT NULL REFERENCES events (id),
    id         text    NOT NULL,
    seat       integer NOT NULL,
    buyer      text    NOT NULL,
    seller     integer NOT NULL,
    fp         text    NOT NULL DEFAULT '',
    rev        bigint  NOT NULL,
    cancel_rev bigint,
    n          bigint  GENERATED ALWAYS AS IDENTITY,
    PRIMARY KEY (event, id)
);
CREATE INDEX bookings_live_seat ON bookings (event, seat) WHERE cancel_rev IS NULL;

-- Revisions of commits, for all events: a commit that changes an event
-- takes the next value, so that seat-mode commits need not wait for each
-- other to number themselves. An event's revision is its last commit's.
CREATE SEQUENCE revisions;
