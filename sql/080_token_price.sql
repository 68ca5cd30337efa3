-- Requests that call a model without a video to transcribe (follow-up
-- questions about a transcribed video, questions about images) are priced
-- by the tokens they use: the rate in credit seconds per 1,000 tokens is
-- fixed on the job when it is admitted; 0 means priced by media duration.
ALTER TABLE jobs ADD COLUMN token_price real NOT NULL DEFAULT 0;
