
seed-1Hello, kvserve  