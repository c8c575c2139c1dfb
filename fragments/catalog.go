package fragments

import (
	"sort"
	"sync"
	"time"
)

// Book is one product of the demo shop.
type Book struct {
	ID          string
	Title       string
	Author      string
	Price       string
	Year        int
	Pages       int
	Blurb       string
	Cover       string // fingerprinted path under /static
	CoverAlt    string
	Recommended []string
}

// books is the demo catalogue. Fixed data: the demo has no database.
var books = map[string]Book{
	"1": {
		ID: "1", Title: "The River of Bytes", Author: "Ada Marlowe", Price: "€24.90", Year: 2024, Pages: 312,
		Blurb:       "A ferry pilot learns that the river she crosses every day carries more than water: every packet of the city flows beneath her hull, and one of them is addressed to her.",
		Cover:       Asset("/static/product/covers/1.svg"),
		CoverAlt:    "Cover of The River of Bytes: a blue river winding through a grid of lights",
		Recommended: []string{"2", "3", "4"},
	},
	"2": {
		ID: "2", Title: "Fragments of a Summer Page", Author: "Tomás Ferreira", Price: "€18.50", Year: 2023, Pages: 224,
		Blurb:       "Six friends, one shared notebook, and a summer told in pieces that only make sense when read together.",
		Cover:       Asset("/static/product/covers/2.svg"),
		CoverAlt:    "Cover of Fragments of a Summer Page: torn paper squares in warm colours",
		Recommended: []string{"1", "4", "3"},
	},
	"3": {
		ID: "3", Title: "Latency", Author: "Grace Okafor", Price: "€21.00", Year: 2025, Pages: 401,
		Blurb:       "A thriller in which every second of delay costs a life, and the only engineer who can shave it off has stopped answering her phone.",
		Cover:       Asset("/static/product/covers/3.svg"),
		CoverAlt:    "Cover of Latency: a red clock face dissolving into pixels",
		Recommended: []string{"1", "2", "4"},
	},
	"4": {
		ID: "4", Title: "The Quiet Cache", Author: "Lin Bauer", Price: "€15.20", Year: 2022, Pages: 188,
		Blurb:       "Poems about remembering just enough, and forgetting at the right time.",
		Cover:       Asset("/static/product/covers/4.svg"),
		CoverAlt:    "Cover of The Quiet Cache: a green box with a single open drawer",
		Recommended: []string{"3", "1", "2"},
	},
}

// Review is one reader's review.
type Review struct {
	Name   string    `json:"name"`
	Rating int       `json:"rating"`
	Text   string    `json:"text"`
	At     time.Time `json:"at"`
}

// reviewStore keeps reviews in memory, per book.
type reviewStore struct {
	mu      sync.Mutex
	reviews map[string][]Review
}

func newReviewStore() *reviewStore {
	day := 24 * time.Hour
	base := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	return &reviewStore{reviews: map[string][]Review{
		"1": {
			{Name: "Priya", Rating: 5, Text: "I read it in one night. The ferry scenes are unforgettable.", At: base},
			{Name: "Jonas", Rating: 4, Text: "Clever premise, slightly long in the middle.", At: base.Add(3 * day)},
		},
		"2": {{Name: "Mei", Rating: 5, Text: "Warm, funny and sad in the right places.", At: base.Add(day)}},
		"3": {{Name: "Oskar", Rating: 3, Text: "Tense, but the ending came too fast for me.", At: base.Add(2 * day)}},
	}}
}

func (s *reviewStore) list(bookID string) []Review {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := append([]Review(nil), s.reviews[bookID]...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.After(out[j].At) })
	return out
}

func (s *reviewStore) add(bookID string, r Review) {
	s.mu.Lock()
	defer s.mu.Unlock()
	const maxPerBook = 200 // the demo runs for days on a laptop; keep it bounded
	list := append(s.reviews[bookID], r)
	if len(list) > maxPerBook {
		list = list[len(list)-maxPerBook:]
	}
	s.reviews[bookID] = list
}
