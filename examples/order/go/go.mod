module example.com/flakebox/order

go 1.19
