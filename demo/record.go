package demo

import (
	"compress/gzip"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/bookerhq/booker/history"
	"github.com/bookerhq/booker/load"
)

// record is what SaveRun writes: the workload and the rows.
type record struct {
	Capacity    int    `json:"capacity"`
	Buyers      int    `json:"buyers"`
	Concurrency int    `json:"concurrency"`
	Sellers     int    `json:"sellers"`
	Window      string `json:"window"`
	Seed        int64  `json:"seed"`
	Seats       string `json:"seats"`
	Rows        []Row  `json:"rows"`
}

// historyPath is where Run records a mode's history.
func historyPath(dir, mode string) string { return filepath.Join(dir, mode+".history.jsonl") }

// SaveRun writes the workload of cfg and the rows to cfg.Dir/rows.json,
// beside the histories Run recorded there, so that LoadRun can render
// the report again.
func SaveRun(cfg Config, rows []Row) error {
	data, err := json.MarshalIndent(record{
		Capacity: cfg.Capacity, Buyers: cfg.Buyers, Concurrency: cfg.Concurrency, Sellers: cfg.Sellers,
		Window: cfg.Window.String(), Seed: cfg.Seed, Seats: cfg.Seats.String(), Rows: rows,
	}, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(cfg.Dir, "rows.json"), data, 0o644)
}

// LoadRun reads back what Run and SaveRun left in dir: the workload, the
// rows and each mode's history (read from <mode>.history.jsonl, or its
// gzipped copy <mode>.history.jsonl.gz).
func LoadRun(dir string) (Config, []Row, map[string][]history.Op, error) {
	var rec record
	data, err := os.ReadFile(filepath.Join(dir, "rows.json"))
	if err != nil {
		return Config{}, nil, nil, fmt.Errorf("load demo run: %w", err)
	}
	if err := json.Unmarshal(data, &rec); err != nil {
		return Config{}, nil, nil, fmt.Errorf("load demo run %s: %w", dir, err)
	}
	cfg := Config{Dir: dir, Capacity: rec.Capacity, Buyers: rec.Buyers, Concurrency: rec.Concurrency,
		Sellers: rec.Sellers, Seed: rec.Seed}
	if cfg.Window, err = time.ParseDuration(rec.Window); err != nil {
		return Config{}, nil, nil, fmt.Errorf("load demo run %s: %w", dir, err)
	}
	if cfg.Seats, err = load.ParseSeats(rec.Seats); err != nil {
		return Config{}, nil, nil, fmt.Errorf("load demo run %s: %w", dir, err)
	}
	hist := map[string][]history.Op{}
	for _, r := range rec.Rows {
		ops, err := readHistory(historyPath(dir, r.Mode))
		if err != nil {
			return Config{}, nil, nil, fmt.Errorf("load demo run: %w", err)
		}
		hist[r.Mode] = ops
	}
	return cfg, rec.Rows, hist, nil
}

// readHistory reads a history file, or its gzipped copy.
func readHistory(path string) ([]history.Op, error) {
	if _, err := os.Stat(path); err == nil {
		ops, _, err := history.ReadFile(path)
		return ops, err
	}
	f, err := os.Open(path + ".gz")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s.gz: %w", path, err)
	}
	ops, _, err := history.Read(zr)
	return ops, err
}
