module example.com/flakebox/runners

go 1.19
