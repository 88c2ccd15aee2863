module example.com/flakebox/gotimebomb

go 1.19
