//go:build !js

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/chromedp/chromedp"
)

// Screenshot writes a PNG of the page's viewport (Options.Width ×
// Options.Height pixels) to path, creating its parent directories and
// replacing any file there. It captures what is drawn now; call WaitIdle or
// JumpTo first to capture a settled map.
func (p *Page) Screenshot(ctx context.Context, path string) error {
	png, err := p.ScreenshotPNG(ctx)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("e2e: Screenshot: %w", err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		return fmt.Errorf("e2e: Screenshot: %w", err)
	}
	p.tab.b.logf("e2e: screenshot of %s written to %s (%d bytes)", p.tab.url, path, len(png))
	return nil
}

// ScreenshotPNG returns a PNG of the page's viewport, as Screenshot writes.
func (p *Page) ScreenshotPNG(ctx context.Context) ([]byte, error) {
	actx, done := p.bind(ctx)
	defer done()
	png, err := chromedp.Run(actx, chromedp.CaptureScreenshot())
	if err != nil {
		return nil, fmt.Errorf("e2e: Screenshot of %s: %w", p.tab.url, ctxErr(ctx, actx, err))
	}
	return png, nil
}
