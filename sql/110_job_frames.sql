-- Frames (frames: true): a JPEG at each grounded highlight's moment,
-- made per job (the markdown's links name the job). jobs.frames is the
-- request; frame_count and frames_note what the frames step made of it
-- (a note when it made none: audio-only media, no highlights).
ALTER TABLE jobs ADD COLUMN IF NOT EXISTS frames boolean NOT NULL DEFAULT false;
ALTER TABLE jobs ADD COLUMN IF NOT EXISTS frame_count integer NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN IF NOT EXISTS frames_note text NOT NULL DEFAULT '';
CREATE TABLE IF NOT EXISTS job_frames (
	job_id uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
	n integer NOT NULL,
	start_seconds double precision NOT NULL,
	jpeg bytea NOT NULL,
	PRIMARY KEY (job_id, n)
);
