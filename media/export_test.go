package media

// YtDlpBaseArgs exposes the fixed yt-dlp options to tests.
func YtDlpBaseArgs(c *Client) []string { return c.ytdlpBaseArgs() }
