package core

import (
	"crypto/rand"
	"math/big"
)

// Nice ids are "<descriptor>-<animal>", readable names unique per org.
var (
	niceDescriptors = []string{
		"amber", "ancient", "autumn", "bold", "brave", "bright", "brisk", "calm", "clever", "cosmic",
		"crimson", "curious", "dapper", "daring", "dusty", "eager", "early", "electric", "emerald", "fancy",
		"fearless", "fierce", "flying", "frosty", "gentle", "gilded", "glad", "golden", "grand", "happy",
		"hidden", "honest", "humble", "icy", "jolly", "keen", "kind", "lively", "lucky", "lunar",
		"majestic", "mellow", "merry", "mighty", "misty", "modest", "monumental", "nimble", "noble", "oaken",
		"patient", "polar", "proud", "quick", "quiet", "rapid", "ripe", "rustic", "sandy", "scarlet",
		"serene", "shiny", "silent", "silver", "sleek", "snowy", "solar", "spry", "steady", "stellar",
		"stormy", "sturdy", "sunny", "swift", "tidy", "tranquil", "trusty", "vast", "velvet", "vivid",
		"wandering", "warm", "wild", "wise", "witty", "zesty",
	}
	niceAnimals = []string{
		"aardvark", "albatross", "alpaca", "antelope", "armadillo", "badger", "beaver", "bison", "bobcat", "buffalo",
		"camel", "capybara", "caribou", "cheetah", "chinchilla", "cobra", "condor", "cougar", "coyote", "crane",
		"dingo", "dolphin", "dormouse", "eagle", "echidna", "elk", "falcon", "ferret", "flamingo", "fox",
		"gazelle", "gecko", "gibbon", "giraffe", "gopher", "heron", "hedgehog", "ibex", "iguana", "jackal",
		"jaguar", "kestrel", "koala", "lemur", "leopard", "lynx", "macaw", "marmot", "meerkat", "mole-rat",
		"moose", "narwhal", "ocelot", "okapi", "orca", "otter", "owl", "panda", "pangolin", "panther",
		"pelican", "penguin", "puffin", "quokka", "raccoon", "raven", "reindeer", "salamander", "seal", "serval",
		"sloth", "sparrow", "squirrel", "stoat", "tapir", "tiger", "toucan", "turtle", "vole", "walrus",
		"weasel", "wolf", "wombat", "yak", "zebra",
	}
)

func newNiceID() string {
	return pick(niceDescriptors) + "-" + pick(niceAnimals)
}

func pick(words []string) string {
	n, _ := rand.Int(rand.Reader, big.NewInt(int64(len(words))))
	return words[n.Int64()]
}
